/**
 * What a channel gets besides its settings and the alert: the credentials the dispatcher resolved for this delivery,
 * the attempt's abort signal, and the scrubber every text taken from an answer passes through before it goes into an
 * error message.
 */
import { AlertError, AlertCode } from './errors.js';
import type { Alert } from './types.js';

export interface SendContext {
  /** Channel name, for messages. */
  channel: string;
  /** The channel's credential references, resolved: ref -> value. */
  secrets: ReadonlyMap<string, string>;
  /** Aborted when the attempt times out (reason: a TimeoutError) or the dispatcher closes. */
  signal: AbortSignal;
  /** The attempt's timeout, for the clients that take one of their own (SMTP). */
  timeoutMs: number;
  /** Milliseconds since the epoch (the dispatcher's clock). */
  now: () => number;
  /** Id of this delivery, the same on every attempt, so a receiver can drop a retried duplicate. */
  deliveryId: string;
  /** Masks every secret the dispatcher knows of (plain and encoded) in a text. */
  scrub: (text: string) => string;
}

/** A channel: turns the alert into its service's request and sends it; throws an AlertError when it did not work. */
export type ChannelSender<C> = (channel: C, alert: Alert, ctx: SendContext) => Promise<void>;

/** The resolved value of `ref`; the dispatcher resolves every ref a channel lists before calling it. */
export function secretOf(ctx: SendContext, ref: string): string {
  const value = ctx.secrets.get(ref);
  if (value === undefined) throw new AlertError(AlertCode.INTERNAL, `Channel "${ctx.channel}": ${ref} was not resolved before sending.`);
  return value;
}
