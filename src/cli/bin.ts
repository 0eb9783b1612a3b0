#!/usr/bin/env node
/**
 * The installed `keyctl` command (package.json `bin`). It checks the Node version before loading anything else, so an
 * old Node gets a sentence instead of a syntax error from deep inside a dependency.
 */
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `keyctl: Node.js ${process.versions.node} is too old.\nhint: Install Node.js 22 or 24 (20.19 or later works too), then run keyctl again.\n`,
  );
  process.exit(2);
}

// V8's compile cache (Node 22.1 and later; Node 20 has none): keyctl's modules are compiled once instead of on every
// start, which `keyctl exec` adds to a bot's. Code that runs as keyctl comes from it, so it is kept in keyctl's own build
// directory (dist/.compile-cache), where only whoever can already change keyctl's code can write, and used only when
// nobody else can write to it: its directories this user's and closed to others, and a umask that keeps them so.
// KEYCTL_NO_COMPILE_CACHE=1 turns it off.
{
  const { enableCompileCache } = nodeModule as { enableCompileCache?: (dir: string) => unknown };
  if (enableCompileCache && !process.env.KEYCTL_NO_COMPILE_CACHE) {
    const dir = fileURLToPath(new URL('../../.compile-cache', import.meta.url));
    if (compileCacheIsPrivate(dir)) {
      try {
        enableCompileCache(dir);
      } catch {
        // No cache: the same start, only slower.
      }
    }
  }
}

// A reader that goes away (`keyctl --help | head -1`) is not a crash: the rest of the output is dropped, the command
// finishes and exits with its own code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

const argv = process.argv.slice(2);
// `keyctl exec` is in front of a bot's every start: a plain exec command line skips the full CLI (src/cli/exec-fast.ts)
// and loads its path, the start-up environment module included, from one bundle. Its modules only define things when
// they load: nothing reads the environment before takeStartupEnv below.
const invocation = argv.includes('exec') ? (await import('./exec-argv.js')).execInvocation(argv) : null;
const fast = invocation ? await loadExecFast() : undefined;

// Before main and its imports: the store credentials leave process.env and the environment block the kernel shows in
// /proc/<pid>/environ (src/cli/startup-env.ts); main gets them in a copy. A key file that is refused stops here.
const { takeStartupEnv } = fast ?? (await import('./startup-env.js'));
let env: NodeJS.ProcessEnv;
try {
  env = takeStartupEnv().env;
} catch (err) {
  const e = err as { message?: string; hint?: string; exitCode?: number; toJSON?: () => unknown };
  const end = argv.indexOf('--');
  if ((end < 0 ? argv : argv.slice(0, end)).includes('--json') && e.toJSON) {
    process.stdout.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
  } else {
    process.stderr.write(`keyctl: ${e.message ?? 'could not read its environment.'}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  }
  process.exit(e.exitCode ?? 1);
}

const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env, cwd: process.cwd() };
if (invocation && fast) {
  process.exitCode = await fast.runExecFast(invocation, io);
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(argv, io);
}

/**
 * exec's path bundled (dist/src/cli/exec-bundle.js and its chunks, made by `npm run build` after tsc). Without it (a
 * build by tsc alone), or when it is older than the modules it was made from (tsc ran again since: it rewrites every
 * file it emits), the modules load one by one: the same code as the sources, only slower.
 */
async function loadExecFast(): Promise<typeof import('./exec-fast.js')> {
  const bundle = new URL('./exec-bundle.js', import.meta.url);
  const modules = new URL('./exec-fast.js', import.meta.url);
  let current = false;
  try {
    current = statSync(bundle).mtimeMs >= statSync(modules).mtimeMs;
  } catch {
    // No bundle.
  }
  return (await import(current ? bundle.href : modules.href)) as typeof import('./exec-fast.js');
}

/** Whether only this user can write the compile cache: see above. Anything it cannot tell counts as no. */
function compileCacheIsPrivate(dir: string): boolean {
  const me = process.geteuid?.();
  let umask: number;
  try {
    umask = parseInt(/^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? '', 8);
  } catch {
    return false;
  }
  if (me === undefined || !Number.isInteger(umask) || (umask & 0o022) !== 0o022) return false;
  const mine = (path: string) => {
    const st = lstatSync(path);
    return st.isDirectory() && st.uid === me && (st.mode & 0o022) === 0;
  };
  try {
    // Node keeps one directory per V8 version inside it.
    return mine(dir) && readdirSync(dir).every((name) => mine(join(dir, name)));
  } catch (err) {
    // Absent: Node creates it under this umask (or keeps no cache where it cannot).
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
