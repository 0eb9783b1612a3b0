/**
 * KuCoin as its documentation has it, through the real adapter, real ccxt 4.5.84 and the sandbox: the orphan sweep's
 * delete when the passphrase is lost (https://www.kucoin.com/docs-new/api-3470137), the Unified permission, answers
 * without an undocumented expiry (https://www.kucoin.com/docs-new/api-3470130), and signatures checked over the query as
 * KuCoin signs it, not URL-encoded (https://www.kucoin.com/docs-new/authentication), with values that need encoding.
 */
import { describe, expect, it } from 'vitest';
import { documentedExchange, DOCS_CALL as CALL, DOCS_CLIENT_IP as CLIENT_IP } from '../helpers/documented-exchange.js';
import { evaluateKey } from '../../src/domain/policy.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import type { Credentials, DeleteKeyRequest } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';

describe('kucoin, as documented: through the adapter, real ccxt and the sandbox', () => {
  const ex = documentedExchange('kucoin', 'General');

  const create = (label: string) => ex.adapter.createKey({ ...ex.masterCall(), scopes: ['spot:trade'], ips: [CLIENT_IP], label });
  const del = (apiKey: string, extra: { passphrase?: string; label?: string } = {}) =>
    ex.adapter.deleteKey({ ...ex.masterCall(), apiKey, ...extra } as DeleteKeyRequest);
  const listed = async () => (await ex.adapter.listKeys(ex.masterCall())).map((k) => k.apiKey);

  describe('orphan sweep: a key whose passphrase was never stored', () => {
    it('is not deleted with a guess: a typed error names it by fingerprint and label and points to the web UI', async () => {
      // keyctl created it, then stopped before storing it: the sweep knows its key and label, not its passphrase.
      const orphan = await create('keyctl-rot-lost1');
      const mine = (await ex.adapter.listKeys(ex.masterCall())).find((k) => k.apiKey === orphan.apiKey);
      expect(mine?.label).toBe('keyctl-rot-lost1');

      const err = await caught(del(orphan.apiKey, { label: 'keyctl-rot-lost1' }));
      expect(err).toMatchObject({
        code: 'PASSPHRASE_UNKNOWN',
        exitCode: 5,
        retryable: false,
        details: { exchange: 'kucoin', fingerprint: fingerprint(orphan.apiKey), label: 'keyctl-rot-lost1', subaccount: ex.sub },
      });
      expect(err.message).toContain(fingerprint(orphan.apiKey));
      expect(err.hint).toMatch(/KuCoin's web UI .*remark is keyctl-rot-lost1/);
      for (const secret of [orphan.apiKey, orphan.secret, orphan.passphrase!]) expect(`${err.message} ${err.hint}`).not.toContain(secret);
      // Nothing happened at the exchange: the key is still there and still works.
      expect(await listed()).toContain(orphan.apiKey);
      await expect(ex.adapter.ping({ ...CALL, account: ex.account, key: orphan })).resolves.toBeUndefined();
    });

    it('a passphrase KuCoin refuses is reported the same way; the next orphan is still deleted (the sweep goes on)', async () => {
      const first = await create('keyctl-rot-lost2');
      const second = await create('keyctl-rot-kept2');
      const refused = await caught(del(first.apiKey, { passphrase: 'FAKE-not-its-pass', label: 'keyctl-rot-lost2' }));
      expect(refused).toMatchObject({ code: 'PASSPHRASE_REJECTED', retryable: false, details: { label: 'keyctl-rot-lost2' } });
      expect(refused.hint).toMatch(/KuCoin's web UI/);
      // One failed delete leaves the adapter and the master key usable for the next one.
      await del(second.apiKey, { passphrase: second.passphrase! });
      expect(await listed()).toEqual([first.apiKey]);
      await expect(ex.adapter.ping({ ...CALL, account: ex.account, key: second })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
      // With its own passphrase (what keyctl stores with every key it keeps) the first goes too.
      await del(first.apiKey, { passphrase: first.passphrase! });
      expect(await listed()).toEqual([]);
    });
  });

  describe('the Unified permission', () => {
    it('reads as every trade scope plus an unknown permission: never a pass', async () => {
      const key = (await ex.sandbox.admin.createKey({
        exchange: 'kucoin',
        owner: ex.sub,
        permissions: 'General,Unified',
        ips: [CLIENT_IP],
        label: 'uta',
      })) as Credentials;
      const inspection = await ex.adapter.inspect({ ...CALL, account: ex.account, key, role: 'bot', subaccount: ex.sub });
      expect(inspection.scopes).toEqual(['read', 'spot:trade', 'margin:trade', 'futures:trade', 'unknown:Unified']);
      const codes = (scopes: Array<'spot:trade' | 'margin:trade' | 'futures:trade'>) =>
        evaluateKey(inspection, { kind: 'bot', scopes, ips: [CLIENT_IP], subaccount: ex.sub }).map((v) => v.code);
      expect(codes(['spot:trade', 'futures:trade'])).toEqual(['EXCESS_SCOPE', 'UNKNOWN_PERMISSION']);
      expect(codes(['spot:trade', 'margin:trade', 'futures:trade'])).toEqual(['UNKNOWN_PERMISSION']);
      // keyctl never asks for it: KuCoin lets a sub key get only General, Spot, Futures, Margin, InnerTransfer.
      expect((await ex.adapter.listKeys(ex.masterCall()))[0]?.scopes).toContain('unknown:Unified');
    });
  });

  describe('no undocumented expiry', () => {
    it('an expiring key inspects without an expiry (none is documented), and is refused once expired', async () => {
      const soon = new Date(Date.now() + 3 * 86_400_000).toISOString();
      const key = (await ex.sandbox.admin.createKey({
        exchange: 'kucoin',
        owner: ex.sub,
        permissions: 'General,Spot',
        ips: [CLIENT_IP],
        label: 'exp',
        expiresAt: soon,
      })) as Credentials;
      const inspection = await ex.adapter.inspect({ ...CALL, account: ex.account, key, role: 'bot', subaccount: ex.sub });
      expect(inspection.expiresAt).toBeUndefined();
      expect(evaluateKey(inspection, { kind: 'bot', scopes: ['spot:trade'], ips: [CLIENT_IP], subaccount: ex.sub })).toEqual([]);
      await ex.sandbox.admin.tamper(key.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
      await expect(ex.adapter.inspect({ ...CALL, account: ex.account, key, role: 'bot', subaccount: ex.sub })).rejects.toMatchObject({
        code: 'KEY_REJECTED',
      });
    });
  });

  describe('signatures over the query as KuCoin signs it (not URL-encoded)', () => {
    it.each([
      ['@ and =', 'FAKE@pass=2'],
      ['! * and a quote (the HTTP stack escapes the quote after signing; KuCoin decodes it back)', "FAKE!*'pass3"],
    ])('deletes a key whose passphrase holds %s', async (_name, passphrase) => {
      // An imported key may carry any passphrase KuCoin allows (7-32 characters, no spaces), not only keyctl's own.
      const key = await ex.sandbox.admin.createKey({
        exchange: 'kucoin',
        owner: ex.sub,
        permissions: 'General,Spot',
        ips: [CLIENT_IP],
        passphrase,
      });
      await ex.adapter.ping({ ...CALL, account: ex.account, key: key as Credentials });
      await del(key.apiKey, { passphrase });
      expect(await listed()).toEqual([]);
    });

    it.each([
      ['+', 'FAKE+pass+1'],
      ['& #', 'FAKE&pa#s1'],
      ['%', 'FAKE%41pass'],
    ])('refuses up front to send a passphrase holding %s (it would arrive changed): delete it in the web UI', async (_name, passphrase) => {
      const key = await ex.sandbox.admin.createKey({
        exchange: 'kucoin',
        owner: ex.sub,
        permissions: 'General,Spot',
        ips: [CLIENT_IP],
        passphrase,
      });
      const err = await caught(del(key.apiKey, { passphrase }));
      expect(err).toMatchObject({ code: 'PASSPHRASE_UNSENDABLE', retryable: false, details: { fingerprint: fingerprint(key.apiKey) } });
      expect(err.hint).toMatch(/KuCoin's web UI/);
      expect(await listed()).toEqual([key.apiKey]);
    });
  });
});
