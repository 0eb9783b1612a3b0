/**
 * The rollback attack from the hardening review, on the real binary: copy a slot file, rotate (the old key is revoked
 * at the exchange), put the old copy back. Before the manifest, `status` said all was well and `exec` started the bot
 * on the revoked key. Now both refuse (exit 4, STORE_ROLLBACK) and the bot never starts; a lease put back and a record
 * removed are refused too; `keyctl store accept --reason` is the audited way back after a deliberate restore. A spent
 * token record put back is bounded by its TTL, and its replay shows in the audit log.
 */
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_DIR, docFileName } from '../../providers/local/index.js';
import { COORDINATION_DIR } from '../../providers/local/coordination.js';
import { makeWorld, type World } from '../helpers/world.js';
import { runNode, type CliResult } from '../helpers/cli.js';

let w: World;
beforeAll(async () => {
  w = await makeWorld();
}, 60_000);
afterAll(() => w?.close());

const slotFile = (sub: string) => join(w.dir, 'store', DOCS_DIR, docFileName(`slot/bots/alpha/${sub}`));
const errorOf = (r: CliResult) => r.json<{ error: { code: string; message: string; hint?: string } }>().error;
const CLIENT = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
const BOT = ['--', process.execPath, '-e', "console.log('BOT STARTED ' + process.env.KEYCTL_FINGERPRINT)"];

describe('local store rollback (real binary)', () => {
  it('an old slot file put back after a rotation: status and exec refuse (exit 4), the bot never starts; store accept is audited', async () => {
    const before = readFileSync(slotFile('arb1'));
    const rotated = await w.cli(['rotate', 'alpha/arb1', '--grace', '0s', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    writeFileSync(slotFile('arb1'), before);

    const status = await w.cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(4);
    expect(status.stdout + status.stderr).toContain('STORE_ROLLBACK');

    const exec = await w.cli(['exec', 'alpha/arb1', '--json', ...BOT]);
    expect(exec.code, exec.stderr).toBe(4);
    expect(errorOf(exec).code).toBe('STORE_ROLLBACK');
    expect(errorOf(exec).hint).toContain('keyctl store accept');
    expect(exec.stdout).not.toContain('BOT STARTED');

    // Without a reason, nothing is accepted.
    expect((await w.cli(['store', 'accept', '--json'])).code).toBe(2);
    const accepted = await w.cli(['store', 'accept', '--reason', 'restored arb1 from the nightly backup (test)', '--json']);
    expect(accepted.code, accepted.stderr).toBe(0);
    const result = accepted.json<{ changes: Array<{ record: string; was: string; now: string }> }>();
    expect(result.changes).toHaveLength(1);
    expect(result.changes[0]!.record).toBe(`${DOCS_DIR}/${docFileName('slot/bots/alpha/arb1')}`);
    const tail = await w.cli(['audit', 'tail', '--json']);
    expect(tail.stdout).toContain('store accept');
    expect(tail.stdout).toContain('restored arb1 from the nightly backup (test)');
    // Accepted means served again: the operator is told to verify and rotate what the backup brought back.
    expect(accepted.stdout + accepted.stderr).not.toContain('BOT STARTED');
    const verify = await w.cli(['verify', 'alpha/arb1', '--json']);
    expect(verify.code).not.toBe(0); // the restored key was revoked by the rotation: the exchange refuses it
  }, 120_000);

  it('a slot file removed outside keyctl: key list and exec refuse (exit 4, STORE_ROLLBACK)', async () => {
    unlinkSync(slotFile('arb2'));
    const list = await w.cli(['key', 'list', '--json']);
    expect(list.code, list.stderr).toBe(4);
    expect(errorOf(list).code).toBe('STORE_ROLLBACK');
    const exec = await w.cli(['exec', 'alpha/arb2', '--json', ...BOT]);
    expect(exec.code).toBe(4);
    expect(exec.stdout).not.toContain('BOT STARTED');
    expect((await w.cli(['store', 'accept', '--reason', 'arb2 was removed on purpose (test)'])).code).toBe(0);
  }, 60_000);

  it('a rotation lease put back from an older copy: the next rotation refuses (exit 4) and creates no key', async () => {
    const coordDir = join(w.dir, 'store', COORDINATION_DIR);
    const leaseName = () => readdirSync(coordDir).find((n) => n.startsWith('lease-'));
    expect(leaseName()).toBeDefined(); // the first test's rotation left its (released) lease with its fence counter
    const old = readFileSync(join(coordDir, leaseName()!));
    const again = await w.cli(['rotate', 'alpha/arb1', '--force', '--grace', '0s', '--json']);
    expect(again.code, again.stderr).toBe(0);
    writeFileSync(join(coordDir, leaseName()!), old);
    const keysBefore = (await w.keysAt(w.subs.arb1!)).length;
    const r = await w.cli(['rotate', 'alpha/arb1', '--force', '--grace', '0s', '--json']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout + r.stderr).toContain('STORE_ROLLBACK');
    expect((await w.keysAt(w.subs.arb1!)).length).toBe(keysBefore);
    expect((await w.cli(['store', 'accept', '--reason', 'lease restored on purpose (test)'])).code).toBe(0);
  }, 120_000);
});

describe('local token rollback (real binary)', () => {
  /** A bot that holds only the token: no master key, no config. */
  const redeem = (token: string) =>
    runNode(
      [
        '-e',
        `import(${JSON.stringify(CLIENT)}).then(async ({ loadCredentials }) => { const c = await loadCredentials(); console.log('REDEEMED ' + c.fingerprint); }).catch((e) => { console.error(e.code); process.exit(1); });`,
      ],
      { env: { KEYCTL_TOKEN: token } },
    );

  it('a spent token record put back is redeemable only until its TTL ends, and the replay shows in the audit log', async () => {
    const issued = await w.cli(['issue', 'alpha/arb1', '--ttl', '3s', '--json']);
    expect(issued.code, issued.stderr).toBe(0);
    const { token } = issued.json<{ token: string }>();
    const tokensDir = join(w.dir, 'store', 'tokens');
    const recordName = readdirSync(tokensDir).find((n) => n.endsWith('.json'))!;
    const copy = readFileSync(join(tokensDir, recordName));

    expect((await redeem(token)).stdout).toContain('REDEEMED');
    expect((await redeem(token)).stderr).toContain('WRAP_INVALID');
    // Put back within the TTL: whoever holds the token gets the key once more, and the settled receipts say so.
    writeFileSync(join(tokensDir, recordName), copy);
    expect((await redeem(token)).stdout).toContain('REDEEMED');
    expect((await w.cli(['audit', 'verify'])).code).toBe(0);
    const tail = await w.cli(['audit', 'tail', '-n', '5', '--json']);
    const entries = tail.json<{ entries: Array<{ command: string; detail?: Record<string, unknown> }> }>().entries;
    const redemptions = entries.filter((e) => e.command === 'token.redeem');
    expect(redemptions).toHaveLength(2);
    expect(new Set(redemptions.map((e) => e.detail?.tokenId)).size).toBe(1);
    expect(redemptions.some((e) => e.detail?.replayed === true)).toBe(true);
    // Put back after the TTL: refused, the same way as any used token.
    writeFileSync(join(tokensDir, recordName), copy);
    await new Promise((r) => setTimeout(r, 3_100));
    const late = await redeem(token);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toContain('WRAP_INVALID');
    expect(late.stdout).not.toContain('REDEEMED');
  }, 60_000);
});
