#!/usr/bin/env node
/**
 * The installed `keyctl` command (package.json `bin`). It checks the Node version before loading anything else, so an
 * old Node gets a sentence instead of a syntax error from deep inside a dependency.
 */
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `keyctl: Node.js ${process.versions.node} is too old.\nhint: Install Node.js 22 or 24 (20.19 or later works too), then run keyctl again.\n`,
  );
  process.exit(2);
}

// A reader that goes away (`keyctl --help | head -1`) is not a crash: the rest of the output is dropped, the command
// finishes and exits with its own code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

// Before main and its imports: the store credentials leave process.env and the environment block the kernel shows in
// /proc/<pid>/environ (src/cli/startup-env.ts); main gets them in a copy. A key file that is refused stops here.
const { takeStartupEnv } = await import('./startup-env.js');
let env: NodeJS.ProcessEnv;
try {
  env = takeStartupEnv().env;
} catch (err) {
  const e = err as { message?: string; hint?: string; exitCode?: number; toJSON?: () => unknown };
  const argv = process.argv.slice(2);
  const end = argv.indexOf('--');
  if ((end < 0 ? argv : argv.slice(0, end)).includes('--json') && e.toJSON) {
    process.stdout.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
  } else {
    process.stderr.write(`keyctl: ${e.message ?? 'could not read its environment.'}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  }
  process.exit(e.exitCode ?? 1);
}

const { main } = await import('./main.js');
process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env,
  cwd: process.cwd(),
});
