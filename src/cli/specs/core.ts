import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'init',
    summary: 'create the secret store (prints a new master key once when none is given)',
    exits: {
      0: 'created (the master key is printed once), or the store already exists',
      2: 'config invalid, KEYCTL_MASTER_KEY malformed or given twice (variable, KEYCTL_MASTER_KEY_FILE, systemd credential), its file readable by others, or a store exists and no key for it was given',
      4: 'the store cannot be opened (wrong master key, damaged, Vault/AWS refused)',
    },
    options: [['--passphrase', 'protect the local store with a passphrase (KEYCTL_PASSPHRASE or a prompt) instead of a master key']],
    help: 'The local store is opened with KEYCTL_MASTER_KEY (base64 of 32 random bytes), read from KEYCTL_MASTER_KEY_FILE or the systemd credential keyctl-master-key, or with KEYCTL_PASSPHRASE.\nWithout either, init generates a master key and prints it once.',
    load: () => import('../commands/init.js'),
  },
  {
    name: 'store accept',
    summary: 'after restoring the local store from a backup, accept its files as they are now (audited)',
    options: [['--reason <text>', 'what was restored and why (required, one line)']],
    exits: {
      0: 'accepted (the records it changed are listed), or nothing to accept',
      2: '--reason is missing, empty or longer than 500 characters, or the store is not a local store',
      4: 'the store cannot be opened, or a record file is damaged (not just older)',
    },
    help: 'keyctl refuses a local-store record older than the one it last wrote, or missing (STORE_ROLLBACK, exit 4).\nAfter a deliberate restore, this records the files as they are now. Then verify and rotate what the backup brought back.',
    load: () => import('../commands/store-accept.js'),
  },
  {
    name: 'status',
    summary: "show the config, the store, which keys are present and which are unsafe, and each bot's last kill drill and kill",
    exits: {
      0: 'the store opens, the end of the audit chain is intact and no stored key is flagged or failed its last verification (a kill drill overdue is a hint, not a failure)',
      3: 'a key is flagged (--accept-violations) or its last verification found a violation, or the end of the audit chain is broken (keyctl audit verify checks every entry)',
      4: 'the store cannot be opened',
    },
    help: 'Per bot: the last kill drill (keyctl kill --dry-run) and the last kill, from the audit log, with a hint when the last drill is older than 30 days.',
    load: () => import('../commands/status.js'),
  },
  {
    name: 'key import',
    summary: 'check a key at its exchange and store it; reads JSON from stdin: {"apiKey","secret","passphrase"?}',
    args: ['<ref>'],
    exits: {
      0: 'stored, or already the CURRENT key and still passing at the exchange',
      2: 'unknown ref, or stdin is not a key as JSON',
      3: 'the key violates the key policy: nothing was stored (or it is the CURRENT key already, and the exchange now reports violations)',
      4: 'the store cannot be opened',
      5: 'the exchange could not be asked (unreachable, rate-limited, or refused the master key)',
    },
    options: [['--accept-violations', 'store a key that violates the key policy, flagged so that rotation replaces it']],
    help: 'The key is inspected at its exchange first; a key with violations is refused (exit 3) unless --accept-violations.\nref is bot/subaccount for a bot key, or @account for an account master key.\nExample: keyctl key import alpha/arb1 < key.json',
    load: () => import('../commands/key-import.js'),
  },
  {
    name: 'key list',
    summary: 'list stored keys: refs, fingerprints, stages, ages and flags (never secrets)',
    exits: { 0: 'listed', 4: 'the store cannot be opened' },
    load: () => import('../commands/key-list.js'),
  },
];
