/**
 * `keyctl exec --user`: the bot runs under another Unix user, which can read neither the store, nor the key file, nor
 * keyctl's /proc entries. This module resolves the user and group, checks that keyctl may switch to them, and explains
 * a refusal. Only `exec --user` loads it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { UsageError } from '@keyctl/client/errors';

/** Whom the bot runs as: what spawn needs (uid, gid) and what its environment says (HOME, USER, LOGNAME). */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const SEE = 'See docs/delivery.md, "Running the bot as another user".';

/** One `name:x:id:...` database entry (passwd or group) by name or numeric id; undefined when there is none. */
function lookup(file: string, database: 'passwd' | 'group', key: string): string[] | undefined {
  const numeric = /^\d+$/.test(key);
  const match = (line: string) => {
    const f = line.split(':');
    return f.length >= 3 && (numeric ? f[2] === key : f[0] === key) ? f : undefined;
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No file (unusual): getent below still asks NSS.
  }
  for (const line of text.split('\n')) {
    const f = match(line);
    if (f) return f;
  }
  // Users from NSS (LDAP, sssd, systemd-homed) are not in the file: ask getent, which goes through NSS.
  try {
    const out = execFileSync('getent', [database, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return match(out.split('\n')[0] ?? '');
  } catch {
    return undefined;
  }
}

/**
 * Resolves `--user` (and `--group`, default the user's primary group) to ids. Refuses an unknown user or group and
 * root (uid 0 or gid 0): a bot under root, or under root's group, could read the store again.
 */
export function resolveRunAs(user: unknown, group?: unknown, files = { passwd: '/etc/passwd', group: '/etc/group' }): RunAs {
  const text = String(user ?? '').trim();
  if (text === '' || user === true) {
    throw new UsageError('INVALID_USER', '--user needs a user name or uid.', {
      hint: `Example: keyctl exec alpha/arb1 --user arb1 -- node bot.mjs. ${SEE}`,
    });
  }
  const pw = lookup(files.passwd, 'passwd', text);
  if (!pw) {
    throw new UsageError('UNKNOWN_USER', `--user ${text}: no such user on this host; the bot was not started.`, {
      hint: `Create the bot's user first (e.g. useradd --system --no-create-home ${/^\d+$/.test(text) ? 'arb1' : text}), or check the name. ${SEE}`,
      details: { user: text },
    });
  }
  const [name = text, , uidText = '', gidText = '', , home = '/'] = pw;
  const uid = Number(uidText);
  let gid = Number(gidText);
  if (uid === 0) {
    throw new UsageError(
      'USER_IS_ROOT',
      `--user ${text} is root (uid 0): the bot could read the store and keyctl's memory; the bot was not started.`,
      {
        hint: `Run the bot as a user of its own, without root's privileges. ${SEE}`,
        details: { user: text },
      },
    );
  }
  if (group !== undefined) {
    const groupText = String(group).trim();
    const gr = groupText === '' || group === true ? undefined : lookup(files.group, 'group', groupText);
    if (!gr) {
      throw new UsageError('UNKNOWN_GROUP', `--group ${String(group)}: no such group on this host; the bot was not started.`, {
        hint: `Create the group first, or leave --group out to use ${name}'s primary group. ${SEE}`,
        details: { group: groupText },
      });
    }
    gid = Number(gr[2]);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new UsageError('UNKNOWN_USER', `--user ${text}: its entry in the user database is malformed; the bot was not started.`, {
      hint: `Check ${name}'s entry with getent passwd ${name}. ${SEE}`,
    });
  }
  if (gid === 0) {
    throw new UsageError(
      'GROUP_IS_ROOT',
      `The bot would run in root's group (gid 0), which often reads root's files; the bot was not started.`,
      {
        hint: `Give ${name} a primary group of its own, or pass --group <group>. ${SEE}`,
        details: { user: name, gid },
      },
    );
  }
  return { name, uid, gid, home };
}

/** Linux capability bits (capability.h). */
const CAP_SETGID = 6n;
const CAP_SETUID = 7n;

/**
 * Whether this process may start a child under another uid and gid. Linux: CAP_SETUID and CAP_SETGID in the effective
 * set (root normally has them; a root whose bounding set dropped them does not). Elsewhere: only root.
 */
export function canSwitchUser(statusPath = '/proc/self/status'): boolean {
  let status: string | undefined;
  try {
    status = readFileSync(statusPath, 'latin1');
  } catch {
    return process.geteuid?.() === 0;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (hex === undefined) return process.geteuid?.() === 0;
  const eff = BigInt(`0x${hex}`);
  return ((eff >> CAP_SETUID) & 1n) === 1n && ((eff >> CAP_SETGID) & 1n) === 1n;
}

/** The refusal when keyctl may not switch users (checked up front, and again if spawn says EPERM). */
export function cannotSwitchUser(runAs: RunAs): UsageError {
  return new UsageError(
    'CANNOT_SWITCH_USER',
    `This keyctl cannot start a process as ${runAs.name} (uid ${runAs.uid}): it is not root and lacks CAP_SETUID/CAP_SETGID; the bot was not started.`,
    {
      hint:
        'Run keyctl exec as root, or give it CAP_SETUID and CAP_SETGID (systemd: AmbientCapabilities=CAP_SETUID CAP_SETGID ' +
        `with CapabilityBoundingSet= listing them). ${SEE}`,
      details: { user: runAs.name, uid: runAs.uid },
    },
  );
}

/** The checks `exec --user` makes before anything is read from the store. */
export function prepareRunAs(user: unknown, group?: unknown): RunAs {
  const runAs = resolveRunAs(user, group);
  if (!canSwitchUser()) throw cannotSwitchUser(runAs);
  return runAs;
}

/** HOME, USER and LOGNAME for the bot: keyctl's own would point it at root's home. */
export function runAsEnv(runAs: RunAs): Record<string, string> {
  return { HOME: runAs.home, USER: runAs.name, LOGNAME: runAs.name };
}
