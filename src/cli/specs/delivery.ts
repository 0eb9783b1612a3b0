import type { CommandSpec } from '../types.js';

/** Credential delivery: exec (start a bot with its key) and issue (a single-use token). See docs/delivery.md. */
export const specs: CommandSpec[] = [
  {
    name: 'exec',
    summary: "start a bot with its slot's CURRENT key in its environment (or on an inherited fd); never in argv or a file",
    args: ['<ref>', '[command...]'],
    repeatable: ['--env <NAME=field>'],
    exits: {
      0: "the bot exited 0 (any other code of the bot's is passed through; 128 + N when signal N ended it)",
      2:
        'no command after --, bad options (a bad --env mapping or --preset: INVALID_ENV_MAPPING, INVALID_PRESET; --env/--preset with --fd: CONFLICTING_OPTIONS), unknown ref, the slot has no CURRENT key, a store credential could not be hidden from the bot (STORE_CREDENTIAL_EXPOSED), ' +
        'or --user names an unknown user or group (UNKNOWN_USER, UNKNOWN_GROUP), root (USER_IS_ROOT, GROUP_IS_ROOT), or keyctl may not switch users (CANNOT_SWITCH_USER); the bot was not started',
      3:
        'the slot is paused by keyctl kill (SLOT_PAUSED) until keyctl resume: the bot was not started, or was stopped (SIGTERM, then SIGKILL) at once by a kill on this host, or within one watch period of a kill elsewhere; ' +
        "or --strict and the bot's last checklist verdict failed, is missing or is older than a day (CHECKLIST_NOT_PASSED): the bot was not started",
      4: 'the store cannot be opened',
      5: '--preflight: the exchange refused the key from this host; the bot was not started',
    },
    options: [
      [
        '--fd <n>',
        'pipe mode: write the key as JSON on an inherited socket on fd N (>= 3) instead of the environment; rotations arrive there too',
      ],
      ['--env-prefix <prefix>', 'prefix of the environment variables', 'KEYCTL_'],
      [
        '--env <NAME=field>',
        'environment mode: also set NAME to a field (apiKey, secret, password, fingerprint, ref); repeatable. The key, secret and passphrase are then set only under the mapped names',
      ],
      [
        '--preset <framework>',
        'environment mode: the variables a framework reads: freqtrade (FREQTRADE__EXCHANGE__KEY/SECRET/PASSWORD), ccxt (<EXCHANGE>_APIKEY/SECRET/PASSWORD), jesse:<EXCHANGE> (<EXCHANGE>_API_KEY/_API_SECRET)',
      ],
      ['--no-mask', "pass the bot's stdout and stderr through untouched (default: the key, secret and passphrase are masked)"],
      ['--preflight', 'make one signed read with the key from this host first; exit 5 without starting the bot if the exchange refuses it'],
      [
        '--strict',
        'the go-live gate: start the bot only if its last `keyctl checklist` verdict passed within a day (read from the audit log; no check is run here)',
      ],
      ['--restart-on-rotate', 'environment mode: when a rotation promotes a new key, signal the bot and start it again with the new key'],
      ['--reload-signal <signal>', 'the signal --restart-on-rotate sends', 'SIGTERM'],
      [
        '--user <user>',
        "run the bot as this user (name or uid; not root), with its HOME, USER and LOGNAME: it cannot read the store or keyctl's /proc entries. Needs root or CAP_SETUID+CAP_SETGID",
      ],
      [
        '--group <group>',
        "with --user: the bot's group (name or gid; not root's); default the user's primary group. No supplementary groups",
      ],
    ],
    help: [
      'Usage: keyctl exec alpha/arb1 [options] -- node bot.mjs --its-own-flags',
      'Environment: KEYCTL_API_KEY, KEYCTL_SECRET, KEYCTL_PASSWORD (when the key has a passphrase), KEYCTL_FINGERPRINT,',
      'KEYCTL_ROTATES_AT, KEYCTL_REF. With --fd: KEYCTL_FD and KEYCTL_REF only; the key arrives on the socket.',
      'With --env/--preset: the key, secret and passphrase under the mapped names instead (e.g. --preset freqtrade).',
      "Exits with the bot's exit code (128 + signal number when a signal ended it). Forwards INT, TERM, HUP, QUIT, USR1, USR2.",
      'Rotation watch interval: KEYCTL_WATCH_MS (default 10000). See docs/delivery.md.',
    ].join('\n'),
    load: () => import('../commands/exec.js'),
  },
  {
    name: 'issue',
    summary: "print a single-use token (KEYCTL_TOKEN) that a bot exchanges once for its slot's CURRENT key",
    args: ['<ref>'],
    exits: {
      0: 'printed the token',
      2: 'bad --ttl, unknown ref, or the slot has no CURRENT key',
      3: 'the slot is paused by keyctl kill (SLOT_PAUSED) until keyctl resume',
      4: 'the store cannot be opened or cannot wrap',
    },
    options: [['--ttl <duration>', 'how long the token stays valid: 90s, 15m, PT1H (at most 1h)', '60s']],
    help: 'Prints only the token on stdout (with --json: token, expiresAt, ref, fingerprint). The bot calls\nloadCredentials() with KEYCTL_TOKEN set; see docs/delivery.md for what each store provider needs to unwrap.',
    load: () => import('../commands/issue.js'),
  },
];
