/**
 * Bybit answers are parsed against their documented shape (https://bybit-exchange.github.io/docs/v5/user/apikey-info):
 * an answer of any other shape is an EXCHANGE_BAD_RESPONSE violation, never a key with fewer permissions. The review's
 * five malformed query-api answers that used to pass `keyctl verify`, then a fuzz of every field of every fixture: no
 * mutation of an unsafe key passes, and no mutation of any key crashes (every outcome is violations or a pass).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capabilities as bybitCaps, adapter as bybitAdapter, parseBybitKey } from '../../src/exchanges/bybit/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAdapter } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';
import { crashing, fieldMutations, passing, retypes } from '../helpers/fuzz.js';

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const fixture = (name: string): Answer =>
  (JSON.parse(readFileSync(new URL(`../fixtures/exchanges/bybit/${name}.json`, import.meta.url), 'utf8')) as { result: Answer }).result;

const BOT: KeyTarget = {
  kind: 'bot',
  scopes: ['spot:trade', 'futures:trade'],
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount: '24600001',
};
const MASTER: KeyTarget = { kind: 'master', exchange: 'bybit', masterScopes: bybitCaps.masterScopes };

/** inspectKey over an adapter whose query-api answer is `answer`: the path verify, import and rotation take. */
async function check(answer: unknown, target: KeyTarget) {
  const adapter: ExchangeAdapter = { ...bybitAdapter, inspect: async () => parseBybitKey(answer, NOW) };
  return inspectKey({
    adapter,
    account: { id: 'main', exchange: 'bybit', options: {} } as never,
    credentials: { apiKey: 'FAKE-bybit-key-0001', secret: 'FAKE-bybit-secret-0001' },
    target,
    options: { now: NOW },
  });
}
const codes = async (answer: unknown, target: KeyTarget) => (await check(answer, target)).violations.map((v) => v.code);

describe('bybit: the malformed answers that used to pass', () => {
  // A withdraw-capable sub-account key, IP-locked to the bot's address, in the right sub-account: the only thing wrong
  // with it is the Withdraw permission, so the only thing that can stop it is reading `permissions` correctly.
  const withdrawing = { ...fixture('query-api-sub-clean'), permissions: { Spot: ['SpotTrade'], Wallet: ['Withdraw'] } };

  it('reads the well-formed answer as WITHDRAW_ENABLED (the baseline of the cases below)', async () => {
    expect(await codes(withdrawing, BOT)).toContain('WITHDRAW_ENABLED');
  });

  it.each([
    ['a permission group as a string', { ...withdrawing, permissions: { Spot: ['SpotTrade'], Wallet: 'Withdraw' } }],
    ['permissions: null', { ...withdrawing, permissions: null }],
    ['permissions as a comma string', { ...withdrawing, permissions: 'SpotTrade,Withdraw' }],
    ['a group as an object', { ...withdrawing, permissions: { Spot: ['SpotTrade'], Wallet: { 0: 'Withdraw' } } }],
    ['readOnly: "maybe"', { ...withdrawing, readOnly: 'maybe' }],
    ['permissions missing', (({ permissions: _p, ...rest }) => rest)(withdrawing)],
    ['an IP list that is not addresses', { ...withdrawing, ips: ['203.0.113.10', 'anywhere'] }],
    ['the whole result missing', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, answer) => {
    const result = await check(answer, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/bybit answered query-api in a shape keyctl does not know/);
    // The detail names fields, never values (an answer may carry a secret).
    expect(result.violations[0]!.detail).not.toContain('Withdraw');
  });

  it('parseBybitKey itself throws a typed EXCHANGE_BAD_RESPONSE (exit 5 where no policy applies)', async () => {
    const err = await caught(Promise.resolve().then(() => parseBybitKey({ ...withdrawing, permissions: null }, NOW)));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('stays tolerant where the docs allow: unknown fields, and the expiry fields absent or sentinel on IP-bound keys', async () => {
    const clean = fixture('query-api-sub-clean');
    const { deadlineDay: _d, expiredAt: _e, ...noExpiry } = clean;
    expect(await codes({ ...clean, somethingNew: { nested: [1, 2] } }, BOT)).toEqual([]);
    expect(await codes(noExpiry, BOT)).toEqual([]);
    expect(await codes({ ...clean, deadlineDay: -1, expiredAt: '' }, BOT)).toEqual([]);
    // An unknown permission name stays UNKNOWN_PERMISSION, not a bad answer.
    expect(await codes({ ...clean, permissions: { Spot: ['SpotTrade'], Moon: ['Land'] } }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
  });
});

/** Every mutation of an answer: each field dropped, retyped, renamed; each permission group likewise; extra groups. */
function mutations(answer: Answer): Array<{ name: string; answer: Answer }> {
  const out: Array<{ name: string; answer: Answer }> = [];
  out.push(...fieldMutations(answer));
  const permissions = answer.permissions as Record<string, unknown>;
  for (const [group, names] of Object.entries(permissions)) {
    const { [group]: _g, ...others } = permissions;
    retypes(names).forEach((r, i) =>
      out.push({ name: `retype permissions.${group} #${i}`, answer: { ...answer, permissions: { ...others, [group]: r } } }),
    );
    out.push({ name: `rename permissions.${group}`, answer: { ...answer, permissions: { ...others, [group.toLowerCase()]: names } } });
  }
  for (const extra of [['Withdraw'], 'Withdraw', { Withdraw: true }, null]) {
    out.push({ name: `extra group ${JSON.stringify(extra)}`, answer: { ...answer, permissions: { ...permissions, NewGroup: extra } } });
  }
  const ips = answer.ips as unknown[];
  for (const bad of [[...ips, 7], [...ips, 'not-an-ip'], [...ips, null], [ips], ips.join(',')]) {
    out.push({ name: `ips ${JSON.stringify(bad)}`, answer: { ...answer, ips: bad } });
  }
  return out;
}

describe('bybit: fuzzing query-api answers', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass.
  const clean = fixture('query-api-sub-clean');
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, permissions: { ...(clean.permissions as object), Wallet: ['Withdraw'] } },
    'transfer only': { ...clean, permissions: { ...(clean.permissions as object), Wallet: ['AccountTransfer'] } },
    'no IP lock only': { ...clean, ips: ['*'] },
    'foreign IP only': { ...clean, ips: ['198.51.100.99'] },
    'other sub-account only': { ...clean, userID: 24600999 },
    'master key only': { ...clean, isMaster: true },
  };
  const unsafe: Array<[string, KeyTarget]> = [
    ...Object.keys(singleFault).map((k): [string, KeyTarget] => [k, BOT]),
    ['query-api-sub-no-ip', BOT],
    ['query-api-sub-extra', BOT],
    ['query-api-doc-example', BOT],
    ['query-api-master-withdraw', MASTER],
    ['query-api-master-clean', BOT], // a master key where a bot key belongs
  ];
  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (name, target) => {
    const base = singleFault[name] ?? fixture(name);
    expect(await codes(base, target)).not.toEqual([]);
    const all = mutations(base);
    expect(await passing(all, (a) => codes(a, target))).toEqual([]);
    expect(all.length).toBeGreaterThan(150);
  });

  it.each([
    ['query-api-sub-clean', BOT],
    ['query-api-master-clean', MASTER],
    ['query-api-sub-readonly', BOT],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    expect(await crashing(mutations(fixture(name)), (a) => check(a, target))).toEqual([]);
  });
});
