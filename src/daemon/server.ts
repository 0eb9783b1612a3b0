/**
 * The daemon's HTTP face (`--listen host:port`): `/healthz` (the loop is alive), `/readyz` (the store answered at the
 * last cycle; leader or standby both count) and `/metrics` (Prometheus text). Read-only, no secrets, nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '@keyctl/client/errors';

export interface HealthState {
  /** The loop's last heartbeat (ms since the epoch), and how old it may be before the daemon counts as stuck. */
  lastBeat: number;
  staleAfterMs: number;
  /** Whether the store answered at the last cycle, and this daemon's role. */
  storeOk: boolean;
  leader: boolean;
}

export interface DaemonServer {
  url: string;
  close(): Promise<void>;
}

export async function startServer(
  listen: string,
  state: () => HealthState,
  metrics: { text(): Promise<string>; contentType: string },
  now: () => number = Date.now,
): Promise<DaemonServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const s = state();
    const json = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (path === '/healthz') {
      const alive = now() - s.lastBeat <= s.staleAfterMs;
      json(alive ? 200 : 503, { status: alive ? 'ok' : 'stuck', lastBeat: new Date(s.lastBeat).toISOString() });
    } else if (path === '/readyz') {
      json(s.storeOk ? 200 : 503, { status: s.storeOk ? 'ready' : 'store unreachable', role: s.leader ? 'leader' : 'standby' });
    } else if (path === '/metrics') {
      metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new UsageError('LISTEN_FAILED', `Cannot listen on ${listen} (${err.code ?? 'error'}).`, {
          hint: 'Pick a free port and an address of this host, e.g. --listen 127.0.0.1:9464.',
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `host:port`, `[v6]:port` or `:port` (all addresses); port 0 picks a free one. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError('BAD_LISTEN', `--listen ${listen} is not host:port.`, { hint: 'For example --listen 127.0.0.1:9464.' });
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
