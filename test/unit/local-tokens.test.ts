/**
 * Local-store tokens (clients/node/src/local/tokens.ts) on real directories: redeemed with the token alone (no data key, no
 * config), exactly once, never after expiry; a record restored from a backup replays only within its TTL and the replay
 * shows in the audit; receipts reach the audit through settleLocalTokens with a proof only the token's holder can make.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueLocalToken, redeemLocalToken, settleLocalTokens, TOKENS_DIR, type TokenSettlement } from '@keyctl/client/local/tokens';
import { seal } from '@keyctl/client/local/crypto';
import { caught } from '../helpers/caught.js';

const DATA_KEY = Buffer.alloc(32, 0x5a);
const VALUE = '{"v":1,"ref":"alpha/arb1","apiKey":"FAKE-KEY-token","secret":"FAKE-SECRET-token","fingerprint":"fp-FAKE"}';
const LABEL = { ref: 'alpha/arb1', fingerprint: 'fp-FAKE' };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const TTL = 60_000;
const GRACE = 60_000;

let root: string;
let storeDir: string;
let tokensDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'keyctl-tokens-'));
  storeDir = join(root, 'store');
  tokensDir = join(storeDir, TOKENS_DIR);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const issue = (o: { now?: number; ttlMs?: number; value?: string } = {}) =>
  issueLocalToken({ storeDir, dataKey: DATA_KEY, value: o.value ?? VALUE, ttlMs: o.ttlMs ?? TTL, now: o.now ?? T0, label: LABEL });
const redeemAt = (token: string, at: number) => redeemLocalToken(token, { now: () => at });
const idOf = (token: string) => Buffer.from(token.split('.')[2]!, 'base64url').toString('hex');
const keyOf = (token: string) => Buffer.from(token.split('.')[3]!, 'base64url');
const recordFile = (token: string) => join(tokensDir, `${idOf(token)}.json`);
const list = async () => (await readdir(tokensDir)).sort();
const receipts = async () => (await list()).filter((n) => n.endsWith('.receipt'));
const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

/** Runs settleLocalTokens at `now`, collecting what it asks to be recorded. */
async function settleAt(now: number): Promise<{ count: number; entries: TokenSettlement[] }> {
  const entries: TokenSettlement[] = [];
  const count = await settleLocalTokens({ storeDir, dataKey: DATA_KEY, now, record: async (s) => void entries.push(s) });
  return { count, entries };
}

describe('local tokens: issue and redeem', () => {
  it('round trip: redeemed with the token alone; the record holds neither the value nor the one-time key', async () => {
    const token = await issue();
    expect(token).toMatch(/^t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).toBe(storeDir);
    expect(await modeOf(tokensDir)).toBe(0o700);
    expect(await modeOf(recordFile(token))).toBe(0o600);

    const recordText = await readFile(recordFile(token), 'utf8');
    const k = keyOf(token);
    for (const secret of ['FAKE-SECRET-token', k.toString('base64'), k.toString('base64url'), k.toString('hex')]) {
      expect(recordText).not.toContain(secret);
    }
    const record = JSON.parse(recordText) as Record<string, unknown>;
    expect(Object.keys(record).sort()).toEqual(['audit', 'ct', 'expiresAt', 'format', 'id', 'issuedAt', 'iv', 'tag']);
    expect(record).toMatchObject({ format: 'keyctl-token/1', id: idOf(token), issuedAt: new Date(T0).toISOString() });
    expect(record.expiresAt).toBe(new Date(T0 + TTL).toISOString());

    // The redeemer gets no data key, no config, no environment: only the token.
    expect(await redeemAt(token, T0 + 1)).toBe(VALUE);
    const left = await list();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^${idOf(token)}\\.[0-9a-f]{8}\\.receipt$`));
    expect(await modeOf(join(tokensDir, left[0]!))).toBe(0o600);
    const receipt = await readJson(join(tokensDir, left[0]!));
    expect(receipt).toMatchObject({
      format: 'keyctl-token-receipt/1',
      id: idOf(token),
      outcome: 'redeemed',
      at: new Date(T0 + 1).toISOString(),
      pid: process.pid,
      uid: process.getuid?.() ?? null,
      host: hostname(),
      audit: record.audit,
    });
    // The proof is HMAC(HMAC(K, label), [id, outcome, at, pid, uid, host]), as docs/delivery.md specifies.
    const receiptKey = createHmac('sha256', k).update('keyctl:token-receipt-key/1').digest();
    const fields = [receipt.id, receipt.outcome, receipt.at, receipt.pid, receipt.uid, receipt.host];
    expect(receipt.proof).toBe(createHmac('sha256', receiptKey).update(JSON.stringify(fields)).digest('base64'));
  });

  it('used, expired, unknown, malformed and missing-store tokens fail alike (WRAP_INVALID, one message), never echoing the token', async () => {
    const used = await issue();
    await redeemAt(used, T0);
    const expired = await issue();
    const parts = used.split('.');
    const unknown = [parts[0], parts[1], randomBytes(16).toString('base64url'), parts[3]].join('.');
    const missingStore = ['t1', Buffer.from(join(root, 'nowhere')).toString('base64url'), parts[2], parts[3]].join('.');
    const malformed = [
      'FAKE-not-a-token',
      `t2.${parts.slice(1).join('.')}`,
      `${used}.extra`,
      [parts[0], parts[1], parts[2], `${parts[3]}=`].join('.'),
      [parts[0], parts[1], parts[2]!.slice(1), parts[3]].join('.'),
      [parts[0], parts[1], parts[2], parts[3]!.replace(/[A-Za-z0-9]/, '+')].join('.'),
      [parts[0], Buffer.from('relative/store').toString('base64url'), parts[2], parts[3]].join('.'),
      [parts[0], Buffer.from(`${storeDir}/../store`).toString('base64url'), parts[2], parts[3]].join('.'),
    ];

    const errors = [
      await caught(redeemAt(used, T0)),
      await caught(redeemAt(expired, T0 + TTL)),
      await caught(redeemAt(unknown, T0)),
      await caught(redeemAt(missingStore, T0)),
      ...(await Promise.all(malformed.map((t) => caught(redeemAt(t, T0))))),
    ];
    const all = [used, expired, unknown, missingStore, ...malformed];
    errors.forEach((err, i) => {
      expect(err.code).toBe('WRAP_INVALID');
      expect(err.message).toBe(errors[0]!.message);
      expect(err.hint).toBe(errors[0]!.hint);
      expect(JSON.stringify(err.toJSON())).not.toContain(all[i]!.split('.').at(-1));
    });
  });

  it('8 concurrent redeems of one token: exactly one gets the value, and one receipt is written', async () => {
    const token = await issue();
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => redeemAt(token, T0)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toEqual([{ status: 'fulfilled', value: VALUE }]);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'WRAP_INVALID' });
    }
    expect(await receipts()).toHaveLength(1);
    expect(await list()).toHaveLength(1);
  });

  it('an expired token fails and is used up: a receipt says expired, and an earlier clock cannot revive it', async () => {
    const token = await issue({ ttlMs: 1000 });
    expect((await caught(redeemAt(token, T0 + 1000))).code).toBe('WRAP_INVALID');
    const [name] = await receipts();
    expect(await readJson(join(tokensDir, name!))).toMatchObject({ outcome: 'expired' });
    expect(existsSync(recordFile(token))).toBe(false);
    expect((await caught(redeemAt(token, T0))).code).toBe('WRAP_INVALID');
  });

  it('a token whose key was changed fails, consumes the record (receipt: refused), and the real token is then dead', async () => {
    const token = await issue();
    const k = keyOf(token);
    k[5] = k[5]! ^ 0x01;
    const parts = token.split('.');
    const tampered = [parts[0], parts[1], parts[2], k.toString('base64url')].join('.');
    expect((await caught(redeemAt(tampered, T0))).code).toBe('WRAP_INVALID');
    const [name] = await receipts();
    expect(await readJson(join(tokensDir, name!))).toMatchObject({ outcome: 'refused' });
    expect((await caught(redeemAt(token, T0))).code).toBe('WRAP_INVALID');

    const { entries } = await settleAt(T0 + 1);
    expect(entries).toHaveLength(1);
    // The refuser did not hold K, so it cannot have made a valid proof.
    expect(entries[0]).toMatchObject({ command: 'token.redeem', outcome: 'failed', detail: { outcome: 'refused', proof: 'invalid' } });
  });

  it('a record whose expiry was edited in place does not open (the times are bound to the ciphertext)', async () => {
    const token = await issue({ ttlMs: 1000 });
    const record = await readJson(recordFile(token));
    record.expiresAt = new Date(T0 + 3_600_000).toISOString();
    await writeFile(recordFile(token), JSON.stringify(record));
    expect((await caught(redeemAt(token, T0 + 5000))).code).toBe('WRAP_INVALID');
    const [name] = await receipts();
    expect(await readJson(join(tokensDir, name!))).toMatchObject({ outcome: 'refused' });
  });

  it('a record restored from a backup after redemption fails once its TTL has passed (rollback bounded by TTL)', async () => {
    const token = await issue({ ttlMs: 1000 });
    const backup = await readFile(recordFile(token));
    expect(await redeemAt(token, T0 + 10)).toBe(VALUE);
    await writeFile(recordFile(token), backup, { mode: 0o600 });
    expect((await caught(redeemAt(token, T0 + 1000))).code).toBe('WRAP_INVALID');
    const outcomes = await Promise.all((await receipts()).map(async (n) => (await readJson(join(tokensDir, n))).outcome));
    expect(outcomes.sort()).toEqual(['expired', 'redeemed']);
  });

  it('a record restored within its TTL redeems again, and settling reports the replay', async () => {
    const token = await issue();
    const backup = await readFile(recordFile(token));
    expect(await redeemAt(token, T0 + 10)).toBe(VALUE);
    await writeFile(recordFile(token), backup, { mode: 0o600 });
    expect(await redeemAt(token, T0 + 20)).toBe(VALUE);

    const { count, entries } = await settleAt(T0 + 30);
    expect(count).toBe(2);
    expect(entries.map((e) => e.detail.at)).toEqual([new Date(T0 + 10).toISOString(), new Date(T0 + 20).toISOString()]);
    expect(entries[0]).toMatchObject({ command: 'token.redeem', outcome: 'ok', detail: { proof: 'valid' } });
    expect(entries[0]!.detail.replayed).toBeUndefined();
    expect(entries[1]).toMatchObject({ command: 'token.redeem', outcome: 'failed', detail: { proof: 'valid', replayed: true } });
    expect(await list()).toEqual([]);
  });

  it('refuses a tokens directory that is a symlink, leaving the record in place (TOKEN_STORE_INSECURE)', async () => {
    const token = await issue();
    const elsewhere = join(root, 'elsewhere');
    await rename(tokensDir, elsewhere);
    await symlink(elsewhere, tokensDir);
    const err = await caught(redeemAt(token, T0));
    expect(err.code).toBe('TOKEN_STORE_INSECURE');
    expect(err.message).toMatch(/symbolic link/);
    expect(err.hint).toMatch(/Remove/);
    expect(existsSync(join(elsewhere, `${idOf(token)}.json`))).toBe(true);
  });

  it('refuses a tokens directory open to other users (mode 0777), with chmod 700 as the hint (TOKEN_STORE_INSECURE)', async () => {
    const token = await issue();
    await chmod(tokensDir, 0o777);
    const err = await caught(redeemAt(token, T0));
    expect(err.code).toBe('TOKEN_STORE_INSECURE');
    expect(err.message).toMatch(/0777/);
    expect(err.hint).toMatch(/chmod 700/);
    expect(existsSync(recordFile(token))).toBe(true);
    await chmod(tokensDir, 0o700);
    expect(await redeemAt(token, T0)).toBe(VALUE);
  });

  it('never follows a symlink planted at <id>.json: its target is unchanged, the redeem fails, settling leaves it alone', async () => {
    const token = await issue();
    // The target holds the genuine record: following the link would hand out the value.
    const victim = join(root, 'victim.json');
    await rename(recordFile(token), victim);
    const old = new Date(T0 - 3_600_000);
    await utimes(victim, old, old);
    const before = { text: await readFile(victim, 'utf8'), mtimeMs: (await stat(victim)).mtimeMs };
    await symlink(victim, recordFile(token));

    expect((await caught(redeemAt(token, T0))).code).toBe('WRAP_INVALID');
    expect(await settleAt(T0 + TTL + GRACE + 1)).toEqual({ count: 0, entries: [] });
    expect({ text: await readFile(victim, 'utf8'), mtimeMs: (await stat(victim)).mtimeMs }).toEqual(before);
    expect(await receipts()).toEqual([]);
    const [planted] = await list();
    expect((await lstat(join(tokensDir, planted!))).isSymbolicLink()).toBe(true);
  });
});

describe('local tokens: settling into the audit log', () => {
  it('a redemption becomes token.redeem ok with a valid proof; the receipt goes only after record resolved', async () => {
    const token = await issue();
    await redeemAt(token, T0 + 5);
    const [name] = await receipts();
    const seenAtRecord: boolean[] = [];
    const entries: TokenSettlement[] = [];
    const count = await settleLocalTokens({
      storeDir,
      dataKey: DATA_KEY,
      now: T0 + 10,
      record: async (s) => {
        seenAtRecord.push(existsSync(join(tokensDir, name!)));
        await new Promise((r) => setTimeout(r, 10));
        seenAtRecord.push(existsSync(join(tokensDir, name!)));
        entries.push(s);
      },
    });
    expect(count).toBe(1);
    expect(seenAtRecord).toEqual([true, true]);
    expect(entries).toEqual([
      {
        command: 'token.redeem',
        outcome: 'ok',
        ref: LABEL.ref,
        fingerprint: LABEL.fingerprint,
        detail: {
          tokenId: idOf(token).slice(0, 16),
          outcome: 'redeemed',
          at: new Date(T0 + 5).toISOString(),
          pid: process.pid,
          uid: process.getuid?.() ?? null,
          host: hostname(),
          proof: 'valid',
        },
      },
    ]);
    expect(JSON.stringify(entries)).not.toContain('FAKE-SECRET-token');
    expect(await list()).toEqual([]);
  });

  it('a record() that throws stops settling and leaves the receipt for the next run', async () => {
    const token = await issue();
    await redeemAt(token, T0);
    const [name] = await receipts();
    const boom = new Error('FAKE audit write failed');
    await expect(
      settleLocalTokens({
        storeDir,
        dataKey: DATA_KEY,
        now: T0 + 1,
        record: async () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    expect(await receipts()).toEqual([name]);
    const { entries } = await settleAt(T0 + 2);
    expect(entries).toMatchObject([{ command: 'token.redeem', outcome: 'ok' }]);
    expect(await receipts()).toEqual([]);
  });

  it('a forged receipt (written without K) settles as failed: proof invalid, or unverifiable when its audit blob is not the store’s', async () => {
    const token = await issue();
    const id = idOf(token);
    const audit = (await readJson(recordFile(token))).audit;
    const fields = { id, outcome: 'redeemed', at: new Date(T0).toISOString(), pid: 4242, uid: 1000, host: 'FAKE-host' };
    const fakeProof = (key: Buffer) =>
      createHmac('sha256', key)
        .update(JSON.stringify([fields.id, fields.outcome, fields.at, fields.pid, fields.uid, fields.host]))
        .digest('base64');
    const forged = { format: 'keyctl-token-receipt/1', ...fields, audit, proof: fakeProof(randomBytes(32)) };
    await writeFile(join(tokensDir, `${id}.deadbeef.receipt`), JSON.stringify(forged), { mode: 0o600 });
    const foreignAudit = seal(randomBytes(32), Buffer.from('{}'), `keyctl:token-audit/1:${id}`);
    const forged2 = { ...forged, at: new Date(T0 + 1).toISOString(), audit: foreignAudit };
    await writeFile(join(tokensDir, `${id}.cafebabe.receipt`), JSON.stringify(forged2), { mode: 0o600 });

    const { entries } = await settleAt(T0 + 2);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      command: 'token.redeem',
      outcome: 'failed',
      ref: LABEL.ref,
      detail: { proof: 'invalid', host: 'FAKE-host' },
    });
    expect(entries[1]).toMatchObject({ command: 'token.redeem', outcome: 'failed', detail: { proof: 'unverifiable' } });
    expect(entries[1]!.ref).toBeUndefined();
    // The genuine record was not touched by settling receipts about it.
    expect(await redeemAt(token, T0 + 3)).toBe(VALUE);
  });

  it('an unclaimed record becomes token.expire once expiry + 60 s has passed, and not before', async () => {
    const token = await issue({ ttlMs: 1000 });
    expect(await settleAt(T0 + 1000 + GRACE)).toEqual({ count: 0, entries: [] });
    expect(existsSync(recordFile(token))).toBe(true);

    const seenAtRecord: boolean[] = [];
    const count = await settleLocalTokens({
      storeDir,
      dataKey: DATA_KEY,
      now: T0 + 1000 + GRACE + 1,
      record: async (s) => {
        seenAtRecord.push(existsSync(recordFile(token)));
        expect(s).toEqual({
          command: 'token.expire',
          outcome: 'ok',
          ref: LABEL.ref,
          fingerprint: LABEL.fingerprint,
          detail: { tokenId: idOf(token).slice(0, 16), issuedAt: new Date(T0).toISOString(), expiresAt: new Date(T0 + 1000).toISOString() },
        });
      },
    });
    expect(count).toBe(1);
    expect(seenAtRecord).toEqual([true]);
    expect(await list()).toEqual([]);
  });

  it('a claim with no receipt (a redeemer that crashed) becomes a failed token.redeem with outcome unknown after expiry + 60 s', async () => {
    const token = await issue({ ttlMs: 1000 });
    await rename(recordFile(token), join(tokensDir, `${idOf(token)}.claimed`));
    expect((await settleAt(T0 + 1000)).count).toBe(0);
    const { entries } = await settleAt(T0 + 1000 + GRACE + 1);
    expect(entries).toMatchObject([{ command: 'token.redeem', outcome: 'failed', ref: LABEL.ref, detail: { outcome: 'unknown' } }]);
    expect(await list()).toEqual([]);
  });

  it('a store without a tokens directory settles nothing; unrelated names are ignored', async () => {
    await mkdir(storeDir, { mode: 0o700 });
    expect(await settleAt(T0)).toEqual({ count: 0, entries: [] });
    await issue();
    await writeFile(join(tokensDir, 'notes.txt'), 'FAKE unrelated');
    expect((await settleAt(T0 + 1)).count).toBe(0);
    expect(await list()).toContain('notes.txt');
  });
});
