/** `npm run demo` must run clean on a fresh clone: the same built script, checked for its story's key beats. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assertBuilt } from '../helpers/cli.js';

const DEMO = fileURLToPath(new URL('../../dist/src/demo/run.js', import.meta.url));

describe('npm run demo', () => {
  it('tells the whole story and exits 0', () => {
    assertBuilt();
    const r = spawnSync(process.execPath, [DEMO], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      timeout: 120_000,
    });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const out = r.stdout;
    expect(out).toContain('NOT stored: it violates the key policy');
    expect(out).toMatch(/WITHDRAW_ENABLED[\s\S]*NOT_IP_LOCKED/);
    expect(out).toMatch(/rotated: new key [0-9a-f]{16}, old key [0-9a-f]{16} revoked/);
    expect(out).toContain('now has 1 key: IP allowlist ["203.0.113.7"]');
    expect(out).toContain('2 keys checked: 2 ok.');
    expect(out).toMatch(/bot: bybit accepted key [0-9a-f]{16}/);
    expect(out).toMatch(/audit.log: \d+ entries, chain verified/);
  });
});
