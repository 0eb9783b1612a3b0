import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'init',
    summary: 'create the secret store (prints a new master key once when none is given)',
    options: [['--passphrase', 'protect the local store with a passphrase (KEYCTL_PASSPHRASE or a prompt) instead of a master key']],
    help: 'The local store is opened with KEYCTL_MASTER_KEY (base64 of 32 random bytes) or KEYCTL_PASSPHRASE.\nWithout either, init generates a master key and prints it once.',
    load: () => import('../commands/init.js'),
  },
  {
    name: 'status',
    summary: 'show the config, the store and which keys are present',
    load: () => import('../commands/status.js'),
  },
  {
    name: 'key import',
    summary: 'check a key at its exchange and store it; reads JSON from stdin: {"apiKey","secret","passphrase"?}',
    args: ['<ref>'],
    options: [['--accept-violations', 'store a key that violates the key policy, flagged so that rotation replaces it']],
    help: 'The key is inspected at its exchange first; a key with violations is refused (exit 3) unless --accept-violations.\nref is bot/subaccount for a bot key, or @account for an account master key.\nExample: keyctl key import alpha/arb1 < key.json',
    load: () => import('../commands/key-import.js'),
  },
  {
    name: 'key list',
    summary: 'list stored keys: refs, fingerprints, stages and ages (never secrets)',
    load: () => import('../commands/key-list.js'),
  },
];
