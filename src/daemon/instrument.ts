/**
 * Exchange calls measured for /metrics: each adapter method's latency, and its error code when it fails. The adapter is
 * wrapped, not changed, so the CLI pays nothing for it.
 */
import type { ExchangeAdapter } from '../exchanges/types.js';
import { KeyctlError } from '@keyctl/client/errors';

const MEASURED = ['inspect', 'createKey', 'deleteKey', 'listKeys', 'ping'] as const;

export interface ExchangeCallObserver {
  observeExchangeCall(exchange: string, operation: string, seconds: number, errorCode?: string): void;
}

export function instrumentAdapter(adapter: ExchangeAdapter, exchange: string, observer: ExchangeCallObserver): ExchangeAdapter {
  const wrapped: ExchangeAdapter = Object.create(adapter) as ExchangeAdapter;
  for (const name of MEASURED) {
    const original = adapter[name].bind(adapter) as (request: never) => Promise<unknown>;
    (wrapped as unknown as Record<string, unknown>)[name] = async (request: never) => {
      const started = performance.now();
      try {
        const result = await original(request);
        observer.observeExchangeCall(exchange, name, (performance.now() - started) / 1000);
        return result;
      } catch (err) {
        observer.observeExchangeCall(
          exchange,
          name,
          (performance.now() - started) / 1000,
          err instanceof KeyctlError ? err.code : 'INTERNAL',
        );
        throw err;
      }
    };
  }
  return wrapped;
}
