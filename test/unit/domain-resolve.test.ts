import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../providers/memory/index.js';
import { parseConfig } from '../../src/config/load.js';
import type { Inventory } from '../../src/domain/inventory.js';
import {
  accountOf,
  botSlots,
  managedKeys,
  readMasterKey,
  resolveKey,
  resolveSlot,
  selectSlots,
  staffMember,
} from '../../src/domain/resolve.js';
import { ExitCode, KeyctlError } from '@keyctl/client/errors';

const inv = parseConfig(
  `
accounts:
  main: { exchange: bybit, custodians: [alice] }
  spare: { exchange: okx }
bots:
  alpha:
    subaccounts:
      arb1: { account: main, uid: "100001", scopes: [spot:trade], ips: [203.0.113.7] }
      arb2: { account: main, uid: "100002", scopes: [spot:trade], ips: [203.0.113.7] }
  beta:
    subaccounts:
      mm: { account: spare, uid: "mm-sub", scopes: [spot:trade], ips: [203.0.113.7] }
staff: [alice]
`,
  '/nonexistent/keyctl.yaml',
).config;

function failure(fn: () => unknown): KeyctlError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KeyctlError) return err;
    throw err;
  }
  throw new Error('expected a KeyctlError');
}

describe('the resolver', () => {
  it('resolves slot and account refs to their store path, slot and account', () => {
    const slot = resolveKey(inv, 'alpha/arb2');
    expect(slot).toMatchObject({ kind: 'slot', ref: 'alpha/arb2', path: 'bots/alpha/arb2', account: { name: 'main', exchange: 'bybit' } });
    expect(slot.kind === 'slot' && slot.slot.uid).toBe('100002');
    expect(resolveKey(inv, '@spare')).toMatchObject({
      kind: 'account',
      ref: '@spare',
      path: 'accounts/spare',
      account: { exchange: 'okx' },
    });
  });

  it('lists every managed key: master keys by name, then slots', () => {
    expect(managedKeys(inv).map((k) => k.ref)).toEqual(['@main', '@spare', 'alpha/arb1', 'alpha/arb2', 'beta/mm']);
  });

  it('INVALID_REF: text that is not a ref', () => {
    for (const text of ['', 'alpha', 'a/b/c', '@', 'Alpha/arb1']) {
      const err = failure(() => resolveKey(inv, text));
      expect([text, err.code, err.exitCode]).toEqual([text, 'INVALID_REF', ExitCode.USAGE]);
    }
  });

  it('UNKNOWN_REF: a well-formed ref nothing declares, listing what is declared', () => {
    const slot = failure(() => resolveKey(inv, 'alpha/arb9'));
    expect(slot).toMatchObject({ code: 'UNKNOWN_REF', exitCode: ExitCode.USAGE });
    expect(slot.hint).toContain('alpha/arb1, alpha/arb2, beta/mm');
    const account = failure(() => resolveKey(inv, '@nosuch'));
    expect(account.code).toBe('UNKNOWN_REF');
    expect(account.hint).toContain('@main, @spare');
    // Names that are properties of every object are not accounts.
    expect(failure(() => resolveKey(inv, '@constructor')).code).toBe('UNKNOWN_REF');
  });

  it('NOT_A_BOT_SLOT: a master key where a bot slot is needed, with the caller’s hint', () => {
    expect(resolveSlot(inv, 'beta/mm').slot.ref).toBe('beta/mm');
    const err = failure(() => resolveSlot(inv, '@main', 'rotate it by hand'));
    expect(err).toMatchObject({ code: 'NOT_A_BOT_SLOT', hint: 'rotate it by hand', exitCode: ExitCode.USAGE });
  });

  it('UNKNOWN_BOT: a bot nothing declares, listing the declared bots', () => {
    expect(botSlots(inv, 'alpha').map((s) => s.ref)).toEqual(['alpha/arb1', 'alpha/arb2']);
    const err = failure(() => botSlots(inv, 'gamma'));
    expect(err).toMatchObject({ code: 'UNKNOWN_BOT', exitCode: ExitCode.USAGE, details: { known: ['alpha', 'beta'] } });
    expect(err.hint).toContain('alpha, beta');
  });

  it('selects slots by bot or ref, in the order given, without duplicates; none selects all', () => {
    expect(selectSlots(inv, []).map((s) => s.ref)).toEqual(['alpha/arb1', 'alpha/arb2', 'beta/mm']);
    expect(selectSlots(inv, ['beta', 'alpha/arb2', 'alpha']).map((s) => s.ref)).toEqual(['beta/mm', 'alpha/arb2', 'alpha/arb1']);
    expect(failure(() => selectSlots(inv, ['alpha', 'gamma'])).code).toBe('UNKNOWN_BOT');
    expect(failure(() => selectSlots(inv, ['alpha/nope'])).code).toBe('UNKNOWN_REF');
    expect(failure(() => selectSlots(inv, ['@main'])).code).toBe('NOT_A_BOT_SLOT');
  });

  it('UNKNOWN_ACCOUNT: a slot of an account the inventory lacks (an inventory not from the config loader)', () => {
    expect(accountOf(inv, inv.slots[2]!).name).toBe('spare');
    const broken: Inventory = { ...inv, accounts: { main: inv.accounts.main! } };
    expect(failure(() => accountOf(broken, inv.slots[2]!))).toMatchObject({ code: 'UNKNOWN_ACCOUNT', exitCode: ExitCode.USAGE });
    expect(failure(() => resolveKey(broken, 'beta/mm')).code).toBe('UNKNOWN_ACCOUNT');
    expect(failure(() => accountOf(inv, 'nosuch')).code).toBe('UNKNOWN_ACCOUNT');
  });

  it('UNKNOWN_STAFF: a person not listed under staff', () => {
    expect(staffMember(inv, 'alice')).toBe('alice');
    expect(failure(() => staffMember(inv, 'mallory'))).toMatchObject({ code: 'UNKNOWN_STAFF', hint: 'Staff: alice.' });
    expect(failure(() => staffMember(inv, undefined)).code).toBe('UNKNOWN_STAFF');
  });

  it('reads an account master key from the store, or null when none is stored', async () => {
    const store = new MemoryStore();
    expect(await readMasterKey(store, 'main')).toBeNull();
    await store.write('accounts/main', { secret: { apiKey: 'FAKE-master', secret: 'FAKE-master-secret' }, stage: 'CURRENT', expect: null });
    expect(await readMasterKey(store, 'main')).toEqual({ apiKey: 'FAKE-master', secret: 'FAKE-master-secret' });
    await store.write('accounts/spare', { secret: { apiKey: 'FAKE-m2' }, stage: 'CURRENT', expect: null });
    await expect(readMasterKey(store, 'spare')).rejects.toMatchObject({ code: 'INVALID_STORED_KEY' });
  });
});
