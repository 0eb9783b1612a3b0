/**
 * keyctl's per-user runtime directory, `<base>/keyctl-<uid>` (0700): where `keyctl exec` supervisors register for
 * `keyctl kill` (supervisors.ts) and where exec keeps its config cache (src/cli/exec-config.ts). Only what this user
 * owns and nobody else may enter is used; anything else is refused, never repaired.
 *
 * Only node built-ins: `exec` loads this before the bot starts.
 */
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** Why a runtime directory was refused (the callers say it in a warning, or silently go without). */
export class InsecureDir extends Error {}

function uid(): number | undefined {
  return process.geteuid?.();
}

/**
 * Where a supervisor registers, in order of preference: KEYCTL_RUNTIME_DIR (set it alike for the bots' units and
 * wherever kill runs when a unit has a private /tmp), XDG_RUNTIME_DIR, the temporary directory. Each holds a
 * `keyctl-<uid>` directory.
 */
export function registryBases(env: NodeJS.ProcessEnv): string[] {
  // The temporary directory as the given environment names it (os.tmpdir() reads this process's own).
  return unique([env.KEYCTL_RUNTIME_DIR, env.XDG_RUNTIME_DIR, env.TMPDIR || env.TMP || env.TEMP || tmpdir()]);
}

/** Where a kill looks: every base a supervisor of this user may have chosen, whatever environment it ran with. */
export function scanBases(env: NodeJS.ProcessEnv): string[] {
  const id = uid();
  return unique([...registryBases(env), ...(id === undefined ? [] : [`/run/user/${id}`]), '/tmp']);
}

function unique(dirs: Array<string | undefined>): string[] {
  return [...new Set(dirs.filter((d): d is string => typeof d === 'string' && d !== '' && isAbsolute(d)))];
}

/**
 * `<base>/keyctl-<uid>`, created 0700 when `create`, and refused unless it is a real directory (not a symlink) that
 * this user owns and nobody else may enter, inside a base that others cannot rename it out of. Synchronous: three
 * local metadata calls cost less than the round trips to the thread pool their async forms take (exec's start).
 */
export function runtimeDir(base: string, create: boolean): string {
  const me = uid();
  if (me === undefined) throw new InsecureDir('no user ids on this platform');
  const b = statSync(base);
  if (!b.isDirectory()) throw new InsecureDir(`${base} is not a directory`);
  // Writable by others without the sticky bit: they could swap our directory for theirs.
  if ((b.mode & 0o022) !== 0 && (b.mode & 0o1000) === 0) throw new InsecureDir(`${base} is writable by others`);
  const dir = join(base, `keyctl-${me}`);
  if (create) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const d = lstatSync(dir);
  if (!d.isDirectory()) throw new InsecureDir(`${dir} is not a directory`);
  if (d.uid !== me) throw new InsecureDir(`${dir} belongs to uid ${d.uid}`);
  if ((d.mode & 0o077) !== 0) throw new InsecureDir(`${dir} is open to other users (mode ${(d.mode & 0o777).toString(8)})`);
  return dir;
}

/** The first usable runtime directory (created if need be), or undefined when none is. */
export function firstRuntimeDir(env: NodeJS.ProcessEnv): string | undefined {
  for (const base of registryBases(env)) {
    try {
      return runtimeDir(base, true);
    } catch {
      // Not usable: the next one.
    }
  }
  return undefined;
}
