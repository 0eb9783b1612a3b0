/**
 * `npm run demo`: keyctl's whole job in one minute, on its embedded defaults and nothing else: a throwaway encrypted
 * local store and the exchange sandbox. Every step runs the real `keyctl` CLI as a separate process, exactly as an
 * operator would, and the narration says what happened and why it matters.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandbox } from '../sandbox/server.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const EXAMPLE_BOT = fileURLToPath(new URL('../../../docs/examples/bot.mjs', import.meta.url));
const BOT_IP = '203.0.113.7';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const out = (text = '') => process.stdout.write(`${text}\n`);
const say = (text: string) => out(`\n\x1b[1m${text}\x1b[0m`);
const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'keyctl-demo-'));
  const sandbox = await startSandbox({ admin: true, clientIp: BOT_IP });
  try {
    say('keyctl demo: one trading bot, one exchange, and the key that could empty the account.');
    out(`Everything runs locally: an exchange sandbox that speaks Bybit's real API at ${sandbox.url}/bybit, and a`);
    out(`throwaway encrypted store in ${dir}.`);

    const { uid } = await sandbox.admin.createAccount('bybit');
    const sub = (await sandbox.admin.createSubaccount('bybit', uid)).id;
    const master = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: uid,
      master: true,
      permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
      ips: [BOT_IP],
    });
    // The worst key a hurried human can end up with: withdrawals on, no IP lock. (The sandbox's admin endpoint can
    // seed states the exchange's own API refuses, which is what drills need.)
    const unsafe = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: sub,
      permissions: { Spot: ['SpotTrade'], Wallet: ['Withdraw', 'AccountTransfer'] },
    });
    writeFileSync(
      join(dir, 'keyctl.yaml'),
      [
        'store: { provider: local, path: ./store }',
        'accounts:',
        `  bybit-main: { exchange: bybit, baseUrl: "${sandbox.url}/bybit", custodians: [alice] }`,
        'bots:',
        '  alpha:',
        '    subaccounts:',
        '      arb1:',
        '        account: bybit-main',
        `        uid: "${sub}"`,
        '        scopes: [read, spot:trade]',
        `        ips: [${BOT_IP}]`,
        '        custodians: [alice]',
        '        rotate: { every: P30D, grace: PT15M }',
        'staff: [alice]',
        '',
      ].join('\n'),
    );
    let env: NodeJS.ProcessEnv = { KEYCTL_ACTOR: 'demo', KEYCTL_EXCHANGE_BACKOFF_MS: '50' };
    const keyctl = (args: string[], stdin?: string) =>
      run(process.execPath, [BIN, '--config', join(dir, 'keyctl.yaml'), ...args], { ...env }, stdin);

    say('1. keyctl init: create the encrypted store.');
    const init = await keyctl(['init', '--json']);
    if (init.code !== 0) return fail('init', init);
    env = { ...env, KEYCTL_MASTER_KEY: (JSON.parse(init.stdout) as { masterKey: string }).masterKey };
    out("The store is AES-256-GCM encrypted under a master key printed once (here it stays in this process's memory).");

    say("2. keyctl key import: store the account's master key (read from stdin, never from a flag).");
    const m = await keyctl(['key', 'import', '@bybit-main'], JSON.stringify(master));
    if (m.code !== 0) return fail('import master', m);
    out(indent(m.stdout));

    say("3. Import the bot's key as a human made it. keyctl asks the exchange what the key can really do...");
    const refused = await keyctl(['key', 'import', 'alpha/arb1'], JSON.stringify(unsafe));
    out(indent(refused.stdout));
    out(`    (exit ${refused.code}: refused, nothing stored)`);
    const accepted = await keyctl(['key', 'import', 'alpha/arb1', '--accept-violations'], JSON.stringify(unsafe));
    if (accepted.code !== 0) return fail('import bot key', accepted);
    out('Stored anyway with --accept-violations, flagged, so that rotation replaces it:');
    out(indent(accepted.stdout));

    say('4. keyctl verify: the exchange itself confirms the problem.');
    const v1 = await keyctl(['verify']);
    out(indent(v1.stdout));
    out(`    (exit ${v1.code}: 3 means a key violates the policy)`);

    say('5. keyctl rotate: a fresh key with exactly the declared scopes and IPs; the old one deleted at the exchange.');
    const rot = await keyctl(['rotate', 'alpha/arb1', '--grace', '0s']);
    if (rot.code !== 0) return fail('rotate', rot);
    out(indent(rot.stderr));
    const live = await sandbox.admin.listKeys({ exchange: 'bybit', owner: sub });
    out(
      `At the exchange, sub-account ${sub} now has ${live.length} key: IP allowlist ${JSON.stringify(live[0]?.ips)}, label ${live[0]?.label}.`,
    );

    say('6. keyctl verify again: clean.');
    const v2 = await keyctl(['verify']);
    out(indent(v2.stdout));
    out(`    (exit ${v2.code})`);

    say('7. keyctl exec: the bot starts with the new key in its environment. No file, no argv, output masked.');
    env = { ...env, BOT_EXCHANGE: 'bybit', BOT_BASE_URL: `${sandbox.url}/bybit` };
    const bot = await keyctl(['exec', 'alpha/arb1', '--', process.execPath, EXAMPLE_BOT]);
    out(indent(`${bot.stdout}${bot.stderr}`));
    out(`    (bot exit ${bot.code})`);

    say('8. keyctl audit: every step above is in a hash-chained log; verify proves nothing was edited or removed.');
    const tail = await keyctl(['audit', 'tail', '-n', '12']);
    out(indent(tail.stdout));
    const av = await keyctl(['audit', 'verify']);
    out(indent(av.stdout));

    say('Done. The bot went from a key that could move funds from anywhere to a trade-only key locked to its address,');
    out('without anyone touching a secret. Next: README.md (quick start), docs/rotation.md (running it from cron).');
    return bot.code === 0 && av.code === 0 ? 0 : 1;
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(stdin ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function fail(step: string, r: Run): number {
  process.stderr.write(`demo: ${step} failed (exit ${r.code}):\n${r.stderr}${r.stdout}\n`);
  return 1;
}

process.exitCode = await main();
