/** Builds the rotation engine for a CLI command: the store, the audit log, exchange adapters and assisted-mode I/O. */
import { hostname } from 'node:os';
import type { CliContext } from '../cli/context.js';
import { parseCredentials } from '../domain/credentials.js';
import { callOptionsFromEnv } from '../exchanges/inspect-key.js';
import { getAdapter } from '../exchanges/registry.js';
import { loadCcxt } from '../exchanges/ccxt.js';
import { RotationEngine } from './engine.js';

export async function engineFor(ctx: CliContext): Promise<RotationEngine> {
  const store = await ctx.store();
  const audit = await ctx.audit();
  let stdinUsed = false;
  return new RotationEngine({
    config: ctx.config(),
    store,
    record: (input) => audit.append({ ...input, actor: ctx.actor }),
    // ccxt is loaded with the adapter, before the engine takes a slot's lease (see RotationEngine.open).
    adapter: async (exchange) => {
      const adapter = await getAdapter(exchange);
      if (adapter.capabilities.inspect) await loadCcxt();
      return adapter;
    },
    owner: `${hostname()}:${process.pid}`,
    env: ctx.env,
    call: callOptionsFromEnv(ctx.env),
    ...leaseFromEnv(ctx.env),
    assisted: {
      instruct: (text) => ctx.out.error(text),
      // One assisted key per run can come from stdin (or a prompt); further slots wait for the next run.
      readKey: async () => {
        if (stdinUsed) return null;
        stdinUsed = true;
        if (ctx.io.stdin.isTTY) {
          if (!ctx.canPrompt()) return null;
          const text = await ctx.prompt('New key as JSON');
          const key = parseCredentials(text);
          ctx.redactor.add(key.apiKey, key.secret, key.passphrase);
          return key;
        }
        const text = (await ctx.readStdin('the new key as JSON')).trim();
        if (!text) return null;
        const key = parseCredentials(text);
        ctx.redactor.add(key.apiKey, key.secret, key.passphrase);
        return key;
      },
    },
  });
}

/** KEYCTL_LEASE_MS: how long a killed rotation holds its slot before another run may take over (default 30 s). */
function leaseFromEnv(env: NodeJS.ProcessEnv): { leaseMs?: number } {
  const ms = Number(env.KEYCTL_LEASE_MS);
  return Number.isInteger(ms) && ms >= 300 ? { leaseMs: ms } : {};
}
