/**
 * `keyctl exec --strict` on the real binary: the bot starts only once `keyctl checklist` recorded a passing verdict for
 * its bot (here appended to the audit log as the checklist command records it), and a later failing verdict holds it
 * back again.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../../providers/local/index.js';
import { loadAuditKey } from '../../src/audit/key.js';
import { openAuditLog } from '../../src/audit/log.js';
import { makeWorld, type World } from '../helpers/world.js';

const worlds: World[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

async function recordVerdict(w: World, bot: string, passed: boolean, failing = ''): Promise<void> {
  const store = await createStore({ provider: 'local', path: join(w.dir, 'store') }, { env: w.env });
  const log = openAuditLog({ path: join(w.dir, 'store', 'audit.log'), key: await loadAuditKey(store) });
  await store.close();
  await log.append({ command: 'checklist', outcome: passed ? 'ok' : 'refused', detail: { bot, failing }, actor: 'ops' });
}

const BOT = ['--', process.execPath, '-e', 'console.log("bot started")'];

describe('exec --strict (real binary)', () => {
  it('starts the bot after a passing verdict, and refuses it again after a failing one', async () => {
    const w = await makeWorld();
    worlds.push(w);
    await recordVerdict(w, 'beta', true); // another bot's verdict does not count
    const before = await w.cli(['exec', 'alpha/arb1', '--strict', ...BOT]);
    expect(before.code).toBe(3);
    expect(before.stdout).not.toContain('bot started');
    expect(before.stderr).toContain('keyctl checklist alpha');

    await recordVerdict(w, 'alpha', true);
    const passed = await w.cli(['exec', 'alpha/arb1', '--strict', ...BOT]);
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stdout).toContain('bot started');

    await recordVerdict(w, 'alpha', false, 'two-factor');
    const failed = await w.cli(['exec', 'alpha/arb1', '--strict', '--json', ...BOT]);
    expect(failed.code).toBe(3);
    expect(failed.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'CHECKLIST_NOT_PASSED',
      message: expect.stringContaining('two-factor'),
    });
    // Without --strict the gate is off (the default).
    expect((await w.cli(['exec', 'alpha/arb1', ...BOT])).code).toBe(0);
  });
});
