/**
 * Starts and stops a moto server (moto's own application, served one request at a time: SERIAL_MOTO), the third-party
 * AWS emulator the AWS provider's tests run against. One server per test file, on a free port, killed by its own pid
 * when the file is done.
 *
 * Without moto the AWS tests are skipped, with the reason in the test name; with CI=true they run anyway and fail,
 * so a CI image that lost moto cannot go green silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const PYTHON = process.env.KEYCTL_TEST_PYTHON ?? 'python3';

/** True when `python3 -m moto.server` can be imported. Checked once, synchronously, for `describe.skipIf`. */
export const motoAvailable: boolean = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import moto.server'], { stdio: 'ignore', timeout: 20_000 });
  return r.status === 0;
})();

/** Under CI a missing moto must fail the run, so the tests run (and fail in beforeAll) instead of skipping. */
export const skipWithoutMoto: boolean = !motoAvailable && process.env.CI !== 'true';

export interface MotoServer {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * moto's own server (`python3 -m moto.server`, moto/server.py) runs werkzeug with `threaded=True`, and moto's
 * DynamoDB TransactWriteItems (moto/dynamodb/models/__init__.py, transact_write_items) checks each condition and then
 * writes, with no lock, restoring a copy of the table taken at its start when it fails: two concurrent transactions can
 * both pass `attribute_not_exists`, and a failing one can undo another's write. DynamoDB's transactions are serializable
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation), so
 * the same application served one request at a time: each call is whole, as AWS makes it, and races between calls,
 * which the coordination contract tests, are the real ones.
 */
const SERIAL_MOTO = [
  'import os, sys',
  'from werkzeug.serving import run_simple',
  'from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app',
  'port = int(sys.argv[1])',
  "os.environ.setdefault('MOTO_PORT', str(port))",
  'app = DomainDispatcherApplication(create_backend_app)',
  "run_simple('127.0.0.1', port, app, threaded=False)",
].join('\n');

/** Starts moto on a free port and waits until it answers HTTP. */
export async function startMoto(timeoutMs = 30_000): Promise<MotoServer> {
  if (!motoAvailable) {
    throw new Error(
      `moto is not installed for ${PYTHON} (pip install "moto[server]"); the AWS provider tests need it (CI=true makes this fatal).`,
    );
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(PYTHON, ['-c', SERIAL_MOTO, String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto exited with code ${child.exitCode} before answering:\n${stderr}`);
    if (await answers(endpoint)) return { endpoint, port, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`moto did not answer on ${endpoint} within ${timeoutMs} ms:\n${stderr}`);
}

/** Fake AWS credentials for moto (it accepts any). Obviously fake, so no test can ever reach real AWS with them. */
export const FAKE_AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'FAKEAKIAKEYCTLTEST000',
  AWS_SECRET_ACCESS_KEY: 'FAKE-secret-access-key-for-moto-only',
  AWS_REGION: 'us-east-1',
} as const;
