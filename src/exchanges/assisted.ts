/**
 * The adapter of an exchange keyctl knows but cannot drive by API (no key-management endpoints, or none implemented
 * yet): every method is a capability gap, and rotation is done by a person in the exchange's UI with keyctl reading
 * the new key from stdin.
 */
import { capabilityGap } from './ccxt.js';
import { capabilitiesOf, type AssistedExchange } from './descriptor.js';
import type { ExchangeAdapter } from './types.js';

export function assistedAdapter(descriptor: AssistedExchange): ExchangeAdapter {
  const { id, why } = descriptor;
  return {
    id,
    capabilities: capabilitiesOf(descriptor),
    inspect: async () => capabilityGap(id, `inspect a key (${why})`),
    createKey: async () => capabilityGap(id, `create keys (${why})`),
    deleteKey: async () => capabilityGap(id, `delete keys (${why})`),
    listKeys: async () => capabilityGap(id, `list keys (${why})`),
    ping: async () => capabilityGap(id, `check a key (${why})`),
  };
}
