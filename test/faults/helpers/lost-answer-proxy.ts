/**
 * "The exchange did it, but the answer was lost", without a race: a pass-through proxy in front of a world's sandbox
 * that lets one chosen call reach the sandbox, waits until the sandbox has answered (so the work is done), and then
 * never answers keyctl, which gives up at its own timeout however slow the machine is.
 *
 * Why not the sandbox's `latency` fault: it does the work only after the delay, so the delay has to outlast keyctl's
 * timeout (which must outlast every healthy call, up to 1.8 s under load) yet stay inside bybit's 5 s recv window (the
 * late request is refused as expired after that): too little room on a loaded 2-core machine.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { World } from '../../helpers/world.js';

export interface LostAnswerProxy {
  url: string;
  /** Resolves with the sandbox's answer to the chosen call once it came back (the work is done): keyctl never sees it. */
  dropped: Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/**
 * Starts the proxy and points the world's account at it (keyctl.yaml's baseUrl). The next request matching `method`
 * and `path` (the path the exchange sees, e.g. `/v5/user/create-sub-api`) loses its answer; everything else passes.
 */
export async function loseNextAnswer(w: World, call: { method: string; path: string }): Promise<LostAnswerProxy> {
  const target = new URL(w.sandbox.url);
  const lostPath = `/${w.profile.exchange}${call.path}`;
  let armed = true;
  let onDropped!: (answer: { status: number; body: string }) => void;
  const dropped = new Promise<{ status: number; body: string }>((resolve) => (onDropped = resolve));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const drop = armed && req.method === call.method && (req.url ?? '').split('?')[0] === lostPath;
      if (drop) armed = false;
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host };
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (up) => {
        if (drop) {
          // Read the answer to its end (the sandbox has done the work by then), then leave keyctl waiting.
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => onDropped({ status: up.statusCode ?? 0, body: Buffer.concat(body).toString() }));
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = join(w.dir, 'keyctl.yaml');
  writeFileSync(config, readFileSync(config, 'utf8').replaceAll(w.sandbox.url, url));
  return {
    url,
    dropped,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
