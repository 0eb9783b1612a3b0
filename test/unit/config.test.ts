import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig, loadConfig, resolveConfigPath } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { ConfigError, UsageError } from '@keyctl/client/errors';
import { configDurationMs, parseDuration } from '../../schedules/duration.js';

const EXAMPLE = fileURLToPath(new URL('../../docs/examples/keyctl.yaml', import.meta.url));
const SCHEMA_FILE = fileURLToPath(new URL('../../docs/config.schema.json', import.meta.url));

function problems(text: string): ConfigError {
  try {
    parseConfig(text, '/etc/keyctl/keyctl.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const base = `
accounts:
  bybit-main: { exchange: bybit }
bots:
  alpha:
    subaccounts:
      arb1:
        account: bybit-main
        uid: "100001"
        scopes: [read, spot:trade]
        ips: [203.0.113.7]
        custodians: [alice]
staff: [alice]
`;

describe('config', () => {
  it('loads the documented example and normalizes it', () => {
    const { config, warnings } = loadConfig(EXAMPLE);
    expect(warnings).toEqual([]);
    expect(config.store).toEqual({ provider: 'local', path: fileURLToPath(new URL('../../docs/examples/.keyctl', import.meta.url)) });
    expect(config.auditPath.endsWith('/docs/examples/.keyctl/audit.log')).toBe(true);
    expect(config.slots).toHaveLength(1);
    expect(config.slots[0]).toMatchObject({
      ref: 'alpha/arb1',
      account: 'bybit-main',
      uid: '100001',
      scopes: ['read', 'spot:trade'],
      ips: ['203.0.113.7'],
      rotate: { every: 'P30D', grace: 'PT15M' },
      verify: { every: 'PT1H' },
    });
    expect(config.accounts['bybit-main']).toMatchObject({ exchange: 'bybit', baseUrl: 'http://127.0.0.1:8101/bybit' });
  });

  it('applies defaults: local store at ./.keyctl next to the file, rotation every 30 days', () => {
    const { config } = parseConfig(base, '/etc/keyctl/keyctl.yaml');
    expect(config.store).toEqual({ provider: 'local', path: '/etc/keyctl/.keyctl' });
    expect(config.slots[0]?.rotate).toEqual({ every: 'P30D', grace: 'PT15M' });
  });

  it("resolves the Vault store's TLS files and JWT file against the config's directory, as the local store's path", () => {
    const store = `store:
  provider: vault
  address: https://vault.example.invalid:8200
  auth: { method: jwt, role: keyctl, tokenPath: ./run/jwt }
  tls: { caCert: ca.pem, clientCert: /abs/client.pem, clientKey: ../keys/client-key.pem }
`;
    const { config } = parseConfig(store + base, '/etc/keyctl/keyctl.yaml');
    expect(config.store).toMatchObject({
      auth: { method: 'jwt', tokenPath: '/etc/keyctl/run/jwt' },
      tls: { caCert: '/etc/keyctl/ca.pem', clientCert: '/abs/client.pem', clientKey: '/etc/keys/client-key.pem' },
    });
  });

  it('reports every problem at once, each with its dotted path', () => {
    const err = problems(`
store: { provider: local, path: ./s, colour: blue }
accounts:
  bybit-main: { exchange: bybit, baseUrl: not-a-url }
bots:
  alpha:
    subaccounts:
      arb1:
        account: nowhere
        uid: "1"
        scopes: [read, withdraw]
        ips: [999.1.1.1]
        ipz: [1.2.3.4]
        rotate: { every: 30 days }
staff: []
`);
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'store',
        'accounts.bybit-main.baseUrl',
        'bots.alpha.subaccounts.arb1',
        'bots.alpha.subaccounts.arb1.scopes.1',
        'bots.alpha.subaccounts.arb1.ips.0',
        'bots.alpha.subaccounts.arb1.rotate.every',
      ]),
    );
    expect(err.issues.find((i) => i.path === 'bots.alpha.subaccounts.arb1')?.message).toContain('"ipz"');
    expect(err.issues.find((i) => i.path === 'store')?.message).toContain('"colour"');
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('bots.alpha.subaccounts.arb1.rotate.every');
  });

  it('checks cross-references after the schema: accounts, custodians, grace shorter than the period', () => {
    const err = problems(
      base
        .replace('account: bybit-main', 'account: okx-main')
        .replace('custodians: [alice]', 'custodians: [mallory]\n        rotate: { every: PT1H, grace: PT2H }'),
    );
    expect(err.issues).toEqual(
      expect.arrayContaining([
        { path: 'bots.alpha.subaccounts.arb1.account', message: 'no account "okx-main" under accounts' },
        { path: 'bots.alpha.subaccounts.arb1.custodians.0', message: '"mallory" is not listed under staff' },
        { path: 'bots.alpha.subaccounts.arb1.rotate.grace', message: 'must be shorter than rotate.every' },
      ]),
    );
  });

  it('lists schema and rule problems together, in file order', () => {
    const err = problems(
      base
        .replace('account: bybit-main', 'account: okx-main')
        .replace('custodians: [alice]', 'custodians: [mallory]\n        verify: { every: 60 }'),
    );
    expect(err.issues).toEqual([
      { path: 'bots.alpha.subaccounts.arb1.account', message: 'no account "okx-main" under accounts' },
      { path: 'bots.alpha.subaccounts.arb1.custodians.0', message: '"mallory" is not listed under staff' },
      { path: 'bots.alpha.subaccounts.arb1.verify.every', message: 'Invalid input: expected string, received number' },
    ]);
    expect(err.message).toContain('has 3 problems');
  });

  it('runs a rule only on fields the schema found sound, so one mistake gets one message', () => {
    const slot = 'bots.alpha.subaccounts.arb1';
    // The account field itself is wrong: no second message about which account it names.
    expect(problems(base.replace('account: bybit-main', 'account: 42')).issues).toEqual([
      { path: `${slot}.account`, message: 'Invalid input: expected string, received number' },
    ]);
    // A broken account entry still declares its name.
    expect(problems(base.replace('{ exchange: bybit }', '{ exchange: 5 }')).issues).toEqual([
      { path: 'accounts.bybit-main.exchange', message: 'Invalid input: expected string, received number' },
    ]);
    // Without a readable staff list, custodians cannot be checked against it.
    expect(problems(base.replace('staff: [alice]', 'staff: alice')).issues).toEqual([
      { path: 'staff', message: 'Invalid input: expected array, received string' },
    ]);
    // A refused period is not also compared with the grace.
    expect(
      problems(base.replace('custodians: [alice]', 'custodians: [alice]\n        rotate: { every: PT0S }')).issues.map((i) => i.path),
    ).toEqual([`${slot}.rotate.every`]);
    // A rule still applies beside an unrelated mistake in the same slot.
    expect(
      problems(
        base
          .replace('account: bybit-main', 'account: okx-main')
          .replace('ips: [203.0.113.7]', 'ips: [203.0.113.7]\n        ipz: [1.2.3.4]'),
      ).issues,
    ).toEqual([
      { path: `${slot}.account`, message: 'no account "okx-main" under accounts' },
      { path: slot, message: 'unknown field "ipz"' },
    ]);
  });

  it('accepts a zero grace (PT0S): the old key is revoked at once', () => {
    const { config } = parseConfig(
      base.replace('custodians: [alice]', 'custodians: [alice]\n        rotate: { grace: PT0S }'),
      '/x/k.yaml',
    );
    expect(config.slots[0]?.rotate).toEqual({ every: 'P30D', grace: 'PT0S' });
    expect(configDurationMs(config.slots[0]?.rotate.grace ?? '')).toBe(0);
  });

  it('refuses a zero rotation or verification period, saying why', () => {
    const err = problems(
      base.replace('custodians: [alice]', 'custodians: [alice]\n        rotate: { every: PT0S }\n        verify: { every: P0D }'),
    );
    expect(err.issues).toEqual([
      {
        path: 'bots.alpha.subaccounts.arb1.rotate.every',
        message: 'must be longer than zero: a key rotated every 0s would be due again the moment each rotation finished',
      },
      {
        path: 'bots.alpha.subaccounts.arb1.verify.every',
        message: 'must be longer than zero: a key verified every 0s would be checked at its exchange without pause',
      },
    ]);
  });

  const withGrace = (grace: string) =>
    base.replace(
      'custodians: [alice]',
      `custodians: [alice]\n        rotate:\n          every: P100Y\n          grace: ${JSON.stringify(grace)}`,
    );

  it.each(['P', 'PT', 'P1DT', 'PT1H30', '-PT1H', 'PT-1H', 'p30d', 'PT1H ago', 'PT1.H', 'P1D2Y'])(
    'refuses %j in the config, as the command line does',
    (text) => {
      expect(() => parseDuration(text)).toThrow(UsageError);
      expect(problems(withGrace(text)).issues).toEqual([
        { path: 'bots.alpha.subaccounts.arb1.rotate.grace', message: 'must be an ISO-8601 duration such as PT15M, PT1H or P30D' },
      ]);
    },
  );

  it.each(['PT0S', 'PT15M', 'P1DT12H', 'PT1.5H', 'PT1,5H', 'P1W', ' PT1H ', 'P99Y'])(
    'reads %j in the config as the command line does',
    (text) => {
      const { config } = parseConfig(withGrace(text), '/x/k.yaml');
      expect(configDurationMs(config.slots[0]?.rotate.grace ?? '')).toBe(parseDuration(text));
    },
  );

  it('keeps config durations within 100 years, as the command line does', () => {
    expect(parseConfig(withGrace('PT1H'), '/x/k.yaml').config.slots[0]?.rotate.every).toBe('P100Y');
    const err = problems(base.replace('custodians: [alice]', 'custodians: [alice]\n        rotate: { every: P101Y }'));
    expect(err.issues).toEqual([{ path: 'bots.alpha.subaccounts.arb1.rotate.every', message: 'must be at most 100 years (P100Y)' }]);
    expect(() => parseDuration('P101Y')).toThrow(/longer than 100 years/);
  });

  it('validates rotation windows: days, times and zone, each with its path', () => {
    const ok = parseConfig(
      base.replace(
        'custodians: [alice]\n',
        'custodians: [alice]\n        rotate: { window: { days: [mon, fri], from: "22:00", to: "02:00", zone: Europe/London } }\n',
      ),
      '/x/k.yaml',
    );
    expect(ok.config.slots[0]?.rotate.window).toEqual({ days: ['mon', 'fri'], from: '22:00', to: '02:00', zone: 'Europe/London' });
    const err = problems(
      base.replace(
        'custodians: [alice]\n',
        'custodians: [alice]\n        rotate: { window: { days: [someday], from: "25:00", to: "04:00", zone: Mars/Olympus } }\n',
      ),
    );
    expect(err.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'bots.alpha.subaccounts.arb1.rotate.window.days.0',
        'bots.alpha.subaccounts.arb1.rotate.window.from',
        'bots.alpha.subaccounts.arb1.rotate.window.zone',
      ]),
    );
  });

  it('rejects a bot key without an IP allowlist', () => {
    const err = problems(base.replace('ips: [203.0.113.7]', 'ips: []'));
    expect(err.issues[0]?.path).toBe('bots.alpha.subaccounts.arb1.ips');
    expect(err.issues[0]?.message).toContain('IP-locked');
  });

  it('reports YAML syntax errors with a line number', () => {
    const err = problems('accounts:\n  a: [unclosed\n');
    expect(err.issues[0]?.path).toMatch(/^line \d+:\d+$/);
  });

  it('reports YAML duplicate keys and bad aliases as positioned problems, with the reason and no value', () => {
    const dup = problems('staff: [alice]\nstaff: [FAKE-not-echoed]\n');
    expect(dup.issues).toEqual([{ path: 'line 2:1', message: 'duplicated mapping key' }]);
    const alias = problems('staff: *nowhere\n');
    expect(alias.issues[0]?.path).toMatch(/^line \d+:\d+$/);
    expect(alias.issues[0]?.message).not.toContain('\n');
  });

  it('reads YAML as plain data: dates and yes stay strings, merge keys and custom tags are not applied', () => {
    const { config } = parseConfig(base.replace('uid: "100001"', 'uid: 2024-01-01'), '/x/k.yaml');
    expect(config.slots[0]?.uid).toBe('2024-01-01');
    expect(problems('d: &d { exchange: bybit }\n').issues).toEqual([{ path: '(top level)', message: 'unknown field "d"' }]);
    expect(problems('accounts:\n  a: { <<: { exchange: bybit } }\n').issues).toEqual([
      { path: 'accounts.a', message: 'unknown field "<<"' },
      { path: 'accounts.a.exchange', message: 'required' },
    ]);
    expect(problems('staff: !!binary aGVsbG8=\n').issues[0]?.path).toMatch(/^line \d+:\d+$/);
  });

  it('lists every unknown field of an object, and rejects a list where a mapping belongs', () => {
    expect(problems('audit: { file: a, size: 3 }\n').issues).toEqual([{ path: 'audit', message: 'unknown fields "file", "size"' }]);
    expect(problems('accounts: []\n').issues).toEqual([{ path: 'accounts', message: 'Invalid input: expected record, received array' }]);
    expect(problems('[]').issues).toEqual([{ path: '(top level)', message: 'Invalid input: expected object, received array' }]);
    expect(problems('store: [local]\n').issues.map((i) => i.path)).toEqual(['store']);
  });

  it('explains bad names, and refuses names that could not be kept as plain object keys', () => {
    const bad = problems('accounts:\n  Bybit_Main: { exchange: bybit }\n');
    expect(bad.issues).toEqual([{ path: 'accounts.Bybit_Main', message: expect.stringContaining('Account names use lowercase letters') }]);
    const reserved = problems(base.replace('  alpha:', '  constructor:'));
    expect(reserved.issues).toEqual([{ path: 'bots.constructor', message: '"constructor" cannot be used as a bot name' }]);
    expect(problems('accounts:\n  __proto__: { exchange: bybit }\n').issues.map((i) => i.path)).toEqual(['accounts.__proto__']);
  });

  it('says a missing field is required, names the type a mistyped field needs, and the choices of a tagged union', () => {
    expect(problems('store: { provider: aws }\n').issues).toEqual([{ path: 'store.region', message: 'required' }]);
    expect(problems(base.replace('        uid: "100001"\n', '')).issues).toEqual([
      { path: 'bots.alpha.subaccounts.arb1.uid', message: 'required' },
    ]);
    expect(problems('store: { path: ./s }\n').issues).toEqual([
      { path: 'store.provider', message: "required, one of 'local' | 'memory' | 'vault' | 'aws'" },
    ]);
    expect(problems('store: { provider: s3 }\n').issues).toEqual([
      { path: 'store.provider', message: "Invalid discriminator value. Expected 'local' | 'memory' | 'vault' | 'aws'" },
    ]);
    expect(problems('staff: ["", 3]\n').issues).toEqual([
      { path: 'staff.0', message: 'Too small: expected string to have >=1 characters' },
      { path: 'staff.1', message: 'Invalid input: expected string, received number' },
    ]);
  });

  it('on the AWS store, refuses account and slot names whose secret name AWS could read as a partial ARN', () => {
    const yaml =
      'store: { provider: aws, region: eu-west-1 }\n' +
      'accounts:\n  main-abc123: { exchange: bybit }\n  main: { exchange: bybit }\n' +
      'bots:\n  alpha:\n    subaccounts:\n      arb-x1y2z3: { account: main, uid: "1", scopes: [read], ips: [203.0.113.7] }\n' +
      '      arb1: { account: main, uid: "2", scopes: [read], ips: [203.0.113.7] }\n';
    expect(problems(yaml).issues).toEqual([
      { path: 'accounts.main-abc123', message: expect.stringContaining('"keyctl/accounts/main-abc123" ends in "-" and six characters') },
      { path: 'bots.alpha.subaccounts.arb-x1y2z3', message: expect.stringContaining('partial ARN') },
    ]);
    // The same names are fine on another store, and a prefix can make them fine on AWS too (the rule is on the full name).
    expect(() => parseConfig(yaml.replace('provider: aws, region: eu-west-1', 'provider: memory'), '/x/k.yaml')).not.toThrow();
  });

  it('trims URLs, and rejects a window whose ends are equal', () => {
    const { config } = parseConfig('accounts:\n  a: { exchange: bybit, baseUrl: "  https://api.example.com/x " }\n', '/x/k.yaml');
    expect(config.accounts.a?.baseUrl).toBe('https://api.example.com/x');
    const err = problems(
      base.replace('custodians: [alice]\n', 'custodians: [alice]\n        rotate: { window: { from: "02:00", to: "02:00" } }\n'),
    );
    expect(err.issues).toEqual([{ path: 'bots.alpha.subaccounts.arb1.rotate.window.to', message: 'from and to must differ' }]);
  });

  const withBaseUrl = (baseUrl: string, extra = '') =>
    base.replace('bybit-main: { exchange: bybit }', `bybit-main: { exchange: bybit, baseUrl: ${JSON.stringify(baseUrl)}${extra} }`);

  it.each([
    'http://203.0.113.9:8080/bybit',
    'http://api.bybit.example/v5',
    'HTTP://Example.com',
    'http://127.0.0.1.nip.io/',
    'http://0.0.0.0:8101/',
  ])('refuses plain http to a host that is not loopback (%s): a key-creation response carries the new secret', (url) => {
    const err = problems(withBaseUrl(url));
    expect(err.exitCode).toBe(2);
    expect(err.issues).toEqual([{ path: 'accounts.bybit-main.baseUrl', message: expect.stringContaining('plain http to') }]);
    expect(err.issues[0]?.message).toContain('allowInsecureHttp: true');
    expect(err.message).toContain('accounts.bybit-main.baseUrl');
  });

  it.each([
    'http://127.0.0.1:8101/bybit',
    'http://127.8.9.10/',
    'http://localhost:8101/bybit',
    'http://[::1]:8101/bybit',
    'http://[::ffff:127.0.0.1]/',
    'http://0x7f.1/',
    'https://api.bybit.example/v5',
  ])('accepts https, and plain http to loopback (%s)', (url) => {
    expect(parseConfig(withBaseUrl(url), '/x/k.yaml').config.accounts['bybit-main']?.baseUrl).toBe(url);
  });

  it('accepts plain http to another host only when the account sets allowInsecureHttp: true', () => {
    const url = 'http://10.0.0.5:8080/bybit';
    const { config, warnings } = parseConfig(withBaseUrl(url, ', allowInsecureHttp: true'), '/x/k.yaml');
    expect(config.accounts['bybit-main']?.baseUrl).toBe(url);
    // Accepted, but said on every run.
    expect(warnings).toEqual([{ path: 'accounts.bybit-main.baseUrl', message: expect.stringContaining('plain http to 10.0.0.5') }]);
    expect(parseConfig(withBaseUrl('https://10.0.0.5/', ', allowInsecureHttp: true'), '/x/k.yaml').warnings).toEqual([]);
    expect(problems(withBaseUrl(url, ', allowInsecureHttp: false')).issues.map((i) => i.path)).toEqual(['accounts.bybit-main.baseUrl']);
    // The exception belongs to one account: another account on plain http is still refused.
    const two = withBaseUrl(url, ', allowInsecureHttp: true').replace(
      'bots:',
      `  okx-main: { exchange: okx, baseUrl: "http://10.0.0.6/okx" }\nbots:`,
    );
    expect(problems(two).issues).toEqual([
      { path: 'accounts.okx-main.baseUrl', message: expect.stringContaining('plain http to 10.0.0.6') },
    ]);
  });

  it('a mistyped allowInsecureHttp grants nothing: both it and the plain-http baseUrl are reported', () => {
    const err = problems(withBaseUrl('http://10.0.0.5/', ', allowInsecureHttp: "yes"'));
    expect(err.issues).toEqual([
      { path: 'accounts.bybit-main.baseUrl', message: expect.stringContaining('plain http to 10.0.0.5') },
      { path: 'accounts.bybit-main.allowInsecureHttp', message: 'Invalid input: expected boolean, received string' },
    ]);
  });

  it('refuses a baseUrl that is neither https nor http, even to loopback', () => {
    expect(problems(withBaseUrl('ftp://127.0.0.1/x')).issues).toEqual([
      { path: 'accounts.bybit-main.baseUrl', message: 'must be an https URL (or http to this machine), not ftp' },
    ]);
  });

  it('warns about duplicates and the memory store without failing', () => {
    const { warnings } = parseConfig(
      `store: { provider: memory }\n${base.replace('ips: [203.0.113.7]', 'ips: [203.0.113.7, 203.0.113.7]')}`,
      '/x/keyctl.yaml',
    );
    expect(warnings.map((w) => w.path)).toEqual(['bots.alpha.subaccounts.arb1.ips', 'store.provider']);
  });

  it('a missing file is a config error with a hint', () => {
    expect(() => loadConfig('/nonexistent/keyctl.yaml')).toThrow(ConfigError);
    try {
      loadConfig('/nonexistent/keyctl.yaml');
    } catch (err) {
      expect((err as ConfigError).hint).toContain('--config');
    }
  });

  it('resolves the config path from --config, then KEYCTL_CONFIG, then ./keyctl.yaml', () => {
    expect(resolveConfigPath('a.yaml', { KEYCTL_CONFIG: '/b.yaml' }, '/w')).toBe('/w/a.yaml');
    expect(resolveConfigPath(undefined, { KEYCTL_CONFIG: '/b.yaml' }, '/w')).toBe('/b.yaml');
    expect(resolveConfigPath(undefined, {}, '/w')).toBe('/w/keyctl.yaml');
  });

  it('docs/config.schema.json matches the schema in the code (run `npm run schema` after changing it)', () => {
    expect(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))).toEqual(configJsonSchema());
  });
});
