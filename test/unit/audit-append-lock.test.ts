import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APPEND_LOCK_SUFFIX, openAuditLog } from '../../src/audit/log.js';

let dir: string;
let path: string;
const key = randomBytes(32);
const entry = { command: 'exec', ref: 'alpha/arb1', outcome: 'ok' as const, actor: 'ops' };
const ns = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
})();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-audit-lock-'));
  path = join(dir, 'audit.log');
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('audit log: the append lock', () => {
  it('takes over at once a lock whose holder on this host has died, and leaves no lock file behind', async () => {
    const dead = { pid: 2 ** 22 + 4321, host: hostname(), ns, nonce: 'aa'.repeat(12), since: new Date().toISOString() };
    await writeFile(`${path}${APPEND_LOCK_SUFFIX}`, JSON.stringify(dead), { mode: 0o600 });
    // A temp file the dead holder left while taking the lock.
    await writeFile(join(dir, `.lock-${dead.pid}-${dead.nonce}`), '{}', { mode: 0o600 });
    const started = Date.now();
    const log = openAuditLog({ path, key });
    expect((await log.append(entry)).seq).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await readdir(dir)).sort()).toEqual(['audit.log', 'audit.log.head']);
  });

  it('is not confused by the lock directory an older keyctl (proper-lockfile) may have left', async () => {
    await mkdir(`${path}.lock`);
    const log = openAuditLog({ path, key });
    expect((await log.append(entry)).seq).toBe(1);
  });
});
