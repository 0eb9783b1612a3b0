/** Builds the rotation engine for a CLI command: the store, the audit log, exchange adapters and assisted-mode I/O. */
import { hostname } from 'node:os';
import type { CliContext } from '../cli/context.js';
import { parseCredentials } from '../domain/credentials.js';
import { callOptionsFromEnv } from '../exchanges/inspect-key.js';
import { getAdapter } from '../exchanges/registry.js';
import { loadCcxt } from '../exchanges/ccxt.js';
import { RotationEngine } from './engine.js';
import type { EventInput } from '../events/types.js';
import type { AuditInput } from '../audit/types.js';

export async function engineFor(ctx: CliContext): Promise<RotationEngine> {
  const store = await ctx.store();
  const coordination = await ctx.coordination();
  const audit = await ctx.audit();
  let stdinUsed = false;
  return new RotationEngine({
    config: ctx.config(),
    store,
    coordination,
    events: { emit: async (event) => void (await interimAudit(event, (input) => audit.append({ ...input, actor: ctx.actor }))) },
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

/** Interim: events to today's audit entries, until src/audit/subscriber.ts lands. */
async function interimAudit(e: EventInput, append: (input: AuditInput) => Promise<unknown>): Promise<void> {
  const fpOf = (f: string | null | undefined) => (f ? { fingerprint: f } : {});
  switch (e.type) {
    case 'rotation.started':
      await append({
        command: 'rotate.start',
        ref: e.ref,
        outcome: 'ok',
        detail: { rotationId: e.rotationId, mode: e.mode, reason: e.reason },
      });
      return;
    case 'rotation.step': {
      const base = { ref: e.ref, ...fpOf(e.fingerprint) };
      if (e.step === 'created')
        await append({
          command: 'rotate.create',
          ...base,
          outcome: 'ok',
          detail: { rotationId: e.rotationId, version: e.version ?? null },
        });
      if (e.step === 'tested')
        await append({
          command: 'rotate.test',
          ...base,
          outcome: e.outcome,
          detail: { rotationId: e.rotationId, ...(e.outcome === 'refused' ? { violations: (e.violations ?? []).join(',') } : {}) },
        });
      if (e.step === 'promoted')
        await append({
          command: 'rotate.promote',
          ...base,
          outcome: 'ok',
          detail: { rotationId: e.rotationId, previous: e.previous ?? null, revokeAfter: e.revokeAfter ?? null },
        });
      if (e.step === 'revoked-previous')
        await append({ command: 'rotate.revoke', ...base, outcome: 'ok', detail: { rotationId: e.rotationId } });
      if (e.step === 'discarded')
        await append({ command: 'rotate.discard', ...base, outcome: 'ok', detail: { version: e.version ?? null, why: e.why ?? null } });
      return;
    }
    case 'key.swept':
      await append({ command: 'rotate.sweep', ref: e.ref, fingerprint: e.fingerprint, outcome: 'ok', detail: { label: e.label } });
      return;
    case 'key.revoked':
      await append({
        command: 'revoke',
        ref: e.ref,
        fingerprint: e.fingerprint,
        outcome: e.outcome,
        detail: { reason: e.reason, ...(e.error ? { error: e.error } : {}) },
      });
      return;
    default:
      return;
  }
}
