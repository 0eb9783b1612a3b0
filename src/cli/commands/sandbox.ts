import { isIP } from 'node:net';
import { KeyctlError, UsageError } from '@keyctl/client/errors';
import type { CliContext } from '../context.js';
import type { CommandRun } from '../types.js';

function portOf(v: unknown): number {
  const s = String(v ?? '8101');
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 65_535) {
    throw new UsageError('BAD_PORT', `--port must be a number from 0 to 65535, got "${s}".`, {
      hint: 'Use 0 to let the system pick a free port.',
    });
  }
  return n;
}

/** Resolves when the process gets SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/**
 * Starts the sandbox, prints where it listens, serves until `until` resolves, then saves state and stops.
 * Split from `run` so tests can stop it without signals.
 */
export async function serveSandbox(ctx: CliContext, opts: Record<string, unknown>, until: Promise<void>): Promise<number> {
  const port = portOf(opts.port);
  const clientIp = opts.clientIp as string | undefined;
  if (clientIp !== undefined && isIP(clientIp) === 0) {
    throw new UsageError('BAD_CLIENT_IP', `--client-ip must be an IPv4 or IPv6 address, got "${clientIp}".`, {
      hint: "For example --client-ip 203.0.113.9 to act from an address outside a key's allowlist.",
    });
  }
  const stateFile = opts.state as string | undefined;
  const { startSandbox } = await import('../../sandbox/server.js');
  const { SANDBOX_EXCHANGES } = await import('../../sandbox/state.js');
  let sb;
  try {
    sb = await startSandbox({
      port,
      ...(stateFile ? { stateFile } : {}),
      ...(clientIp ? { clientIp } : {}),
      admin: opts.admin === true,
      log: (line) => ctx.out.info(line),
    });
  } catch (err) {
    if (err instanceof KeyctlError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new UsageError('SANDBOX_PORT_UNAVAILABLE', `Cannot listen on 127.0.0.1:${port} (${code}).`, {
        hint: 'Pick another --port, or --port 0 for a free one.',
        cause: err,
      });
    }
    if (err instanceof SyntaxError || (err instanceof Error && /sandbox state/i.test(err.message))) {
      throw new UsageError('SANDBOX_STATE_INVALID', `The sandbox state file ${stateFile} cannot be read as sandbox state.`, {
        hint: 'Point --state at a file this sandbox wrote, or at a path that does not exist yet.',
        cause: err,
      });
    }
    throw err;
  }

  const exchanges = Object.fromEntries(SANDBOX_EXCHANGES.map((id) => [id, `${sb.url}/${id}`]));
  ctx.out.result(
    { url: sb.url, port: sb.port, admin: opts.admin === true, clientIp: sb.state.clientIp, state: stateFile ?? null, exchanges },
    () =>
      [
        `keyctl sandbox listening on ${sb.url}`,
        ...SANDBOX_EXCHANGES.map((id) => `  ${id.padEnd(8)} baseUrl: ${exchanges[id]}`),
        `  admin    ${opts.admin === true ? `${sb.url}/_admin` : 'off (start with --admin to seed keys and inject faults)'}`,
        `  client address for allowlist checks: ${sb.state.clientIp}`,
        `  state    ${stateFile ?? 'in memory only'}`,
        'Stop with Ctrl-C (SIGINT) or SIGTERM.',
      ].join('\n'),
  );
  await until;
  await sb.close();
  ctx.out.info('sandbox stopped');
  return 0;
}

export const run: CommandRun = (ctx, _args, opts) => serveSandbox(ctx, opts, untilSignal());
