/**
 * `keyctl alert secret`'s use case: a channel credential stored where `store:<path>` reads it, the value it replaced
 * dropped, nothing but fingerprints audited, and no path outside alerts/ (a bot's key) writable this way.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../providers/memory/index.js';
import { alertSecretResolver, storeAlertSecret } from '../../src/app/alert-secrets.js';
import { KeyctlError } from '@keyctl/client/errors';
import { Recorder } from './app-world.js';

const URL_1 = 'https://hooks.slack.invalid/services/FAKE/FAKE/fake-token-0001';
const URL_2 = 'https://hooks.slack.invalid/services/FAKE/FAKE/fake-token-0002';

describe('storeAlertSecret', () => {
  it('stores the value for store:<path>, drops the one it replaced, and audits fingerprints only', async () => {
    const store = new MemoryStore();
    const events = new Recorder();
    const first = await storeAlertSecret({ store, events }, { path: 'alerts/slack-url', value: `${URL_1}\n` });
    const second = await storeAlertSecret({ store, events }, { path: 'alerts/slack-url', value: URL_2 });
    expect(second.replaced).toBe(first.fingerprint);
    const seen: string[] = [];
    const resolve = alertSecretResolver(store, {}, (v) => seen.push(v));
    expect(await resolve('store:alerts/slack-url')).toBe(URL_2);
    expect(seen).toEqual([URL_2]);
    const info = await store.describe('alerts/slack-url');
    expect(info?.versions.find((v) => v.id === first.version)?.destroyed).toBe(true);
    expect(info?.stages.PREVIOUS).toBeUndefined();
    expect(events.entries.map((e) => [e.command, e.fingerprint, e.detail])).toEqual([
      ['alert secret', first.fingerprint, { path: 'alerts/slack-url', replaced: null }],
      ['alert secret', second.fingerprint, { path: 'alerts/slack-url', replaced: first.fingerprint }],
    ]);
    expect(JSON.stringify(events.events)).not.toContain('fake-token');
  });

  it('refuses paths outside alerts/, and empty or multi-line values, before touching the store', async () => {
    const store = new MemoryStore();
    const events = new Recorder();
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'stored',
        (e: unknown) => (e instanceof KeyctlError ? e.code : String(e)),
      );
    for (const path of ['bots/alpha/arb1', 'accounts/main', 'alerts', 'alerts/', 'alerts/a/b', 'alerts/../bots/x', '']) {
      expect(await code(storeAlertSecret({ store, events }, { path, value: URL_1 })), path).toBe('ALERT_SECRET_PATH');
    }
    for (const value of ['', '\n', '   ', `${URL_1}\n${URL_2}`]) {
      expect(await code(storeAlertSecret({ store, events }, { path: 'alerts/x', value })), JSON.stringify(value)).toBe(
        'ALERT_SECRET_VALUE',
      );
    }
    expect(await store.list('')).toEqual([]);
    expect(events.events).toEqual([]);
  });
});
