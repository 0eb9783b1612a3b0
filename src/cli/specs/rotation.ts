import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'daemon',
    summary: 'run until stopped: rotate when due, re-verify every key, replace drifted keys, alert a human',
    options: [
      ['--listen <host:port>', 'serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. 127.0.0.1:9464'],
      ['--interval <duration>', 'time between cycles: ISO-8601 (PT30S) or 30s, 5m', '30s'],
      ['--lease <duration>', 'leadership lease: how long a dead leader holds the others back (at least twice --interval)', '60s'],
    ],
    exits: {
      0: 'stopped by SIGTERM or SIGINT after finishing its cycle and releasing the lead',
      2: 'a bad --interval, --lease or --listen',
      4: 'the store cannot be opened',
    },
    help: [
      'Each cycle (leader only; daemons sharing a store elect one through its coordination lease): finish interrupted',
      'rotations and rotate what is due (a key stored flagged at once), verify what is due by verify.every, and replace a',
      "key found dangerous (WITHDRAW_ENABLED, NOT_IP_LOCKED, ...) at once with no grace when the slot's verify.onViolation",
      'is rotate. Alerts (config alerts:) go out once when a condition opens and once when it resolves.',
      'Logs: JSON lines on stdout (KEYCTL_LOG_LEVEL=debug|info|warn). docs/daemon.md.',
    ].join('\n'),
    load: () => import('../commands/daemon.js'),
  },
  {
    name: 'rotate',
    summary: "replace slots' keys with fresh trade-only, IP-locked keys (crash-safe; re-running is always safe)",
    args: ['[refs...]'],
    exits: {
      0: 'every slot rotated, finished or had nothing to do',
      2: 'an unknown ref or bot, or a bad --grace',
      3: 'every slot that did not rotate is paused by keyctl kill (SLOT_PAUSED: keyctl resume first), or a key keyctl made is alive and keyctl cannot delete it (delete it by hand)',
      4: 'the store cannot be opened, or refused a record as damaged, rolled back or removed (STORE_ROLLBACK)',
      6: 'a rotation stopped part-way: nothing was lost, re-run the same command',
    },
    options: [
      ['--due', 'only slots whose rotation is due and inside their window (what cron runs); always finishes pending work'],
      ['--force', 'revoke a previous key still in its grace period so a new rotation can start'],
      ['--grace <duration>', "how long the old key stays valid: ISO-8601 (PT15M) or 90s, 15m, 24h, 30d; default the slot's rotate.grace"],
    ],
    help: [
      'refs: bot/subaccount for one slot, or a bot name for every slot of that bot (keyctl rotate alpha); none: every slot.',
      'A rotation whose old key is still in its grace period is finished first: its old key is revoked once the grace',
      'period is over (or every bot under keyctl exec confirmed the new key), and no new rotation starts without --force.',
    ].join('\n'),
    load: () => import('../commands/rotate.js'),
  },
  {
    name: 'alert test',
    summary: 'send a test alert to one alert channel, or to every one, whatever their filters',
    args: ['[channel]'],
    exits: {
      0: 'every channel took the test alert',
      2: 'no alert channels in the config, or an unknown channel',
      4: 'a channel did not take it (the table says why: its credential, its URL, its answer)',
    },
    help: 'Channels are declared under alerts: in the config (docs/alerts.md). Credentials are resolved as the daemon resolves them.',
    load: () => import('../commands/alert-test.js'),
  },
  {
    name: 'revoke',
    summary: "delete a slot's keys at the exchange now and mark them revoked",
    args: ['<ref>'],
    options: [['--reason <text>', 'why, for the audit trail', 'manual revoke']],
    exits: {
      0: 'every key of the slot is revoked',
      2: 'not one slot ref, or an unknown one',
      4: 'the store cannot be opened',
      5: "a key could not be deleted at the exchange (delete it in the exchange's web UI, then re-run)",
      6: 'another keyctl is rotating the slot right now; re-run when it is done (or use kill)',
    },
    load: () => import('../commands/revoke.js'),
  },
  {
    name: 'offboard',
    summary: 'a staff member left: rotate at once, with no grace, every slot they could see; list master keys to rotate by hand',
    args: ['<staff>'],
    options: [['--reason <text>', 'why, for the audit trail', 'staff offboarding']],
    exits: {
      0: 'every slot the person could see was rotated with no grace',
      2: 'the person is not listed under staff',
      4: 'the store cannot be opened',
      6: 'a slot could not be rotated yet: nothing was lost, re-run the same command',
    },
    load: () => import('../commands/offboard.js'),
  },
  {
    name: 'kill',
    summary: 'emergency stop: revoke every key of a bot (or of every bot) at its exchanges, in parallel',
    args: ['[bot]'],
    exits: {
      0: 'every key of the bot(s) is revoked and its slots are paused until keyctl resume',
      2: 'no bot and no --all, both, or an unknown bot',
      4: 'the store cannot be opened',
      5: "a key could not be revoked: delete it in the exchange's web UI now, then re-run",
    },
    options: [
      ['--all', 'every bot'],
      ['--reason <text>', 'why, for the audit trail', 'kill switch'],
      ['--flatten', "also close the bots' open derivative positions with reduce-only market orders (spot balances stay)"],
      ['--keep-orders', "leave open orders in place (by default every open order is cancelled with the bot's own key)"],
      ['--dry-run', 'a drill: list, from the live exchange, the orders, positions and keys a kill would touch; change nothing'],
    ],
    help: [
      'In order, per slot and in parallel across slots: pause (no exec, issue or rotation until keyctl resume), cancel',
      "open orders with the bot's own key, close positions (--flatten), revoke every key, report. Bots under keyctl exec",
      'stop at their next watch. docs/runbooks/kill.md.',
    ].join('\n'),
    load: () => import('../commands/kill.js'),
  },
  {
    name: 'resume',
    summary: 'lift the pause keyctl kill set on a bot (or every bot): exec, issue and rotation work again',
    args: ['[bot]'],
    exits: {
      0: 'the pause is lifted (or there was none)',
      2: 'no bot and no --all, both, an unknown bot, or no --reason',
      4: 'the store cannot be opened',
    },
    options: [
      ['--all', 'every bot'],
      ['--reason <text>', 'why the bot may trade again, for the audit trail'],
    ],
    help: 'The killed keys stay revoked: run keyctl rotate <bot> afterwards to create fresh ones.',
    load: () => import('../commands/resume.js'),
  },
];
