/**
 * The order and position endpoints the sandbox adds to each exchange emulator (docs/sandbox.md, "Orders and
 * positions"). They reach the emulator through `SandboxRequest.extraRoutes`, so the emulator authenticates them exactly
 * like its key endpoints (signature, timestamp, passphrase, IP allowlist, expiry).
 */
import type { SandboxExchange } from '../state.js';
import { binanceTrading } from './binance.js';
import { bitgetTrading } from './bitget.js';
import { bybitTrading } from './bybit.js';
import { gateTrading } from './gate.js';
import type { TradingRoutes } from './common.js';
import { kucoinTrading } from './kucoin.js';
import { mexcTrading } from './mexc.js';
import { okxTrading } from './okx.js';

/** Exchanges without an entry (the inspect-only ones) have no trading API in keyctl: a kill says what to do by hand. */
export const TRADING: Partial<Record<SandboxExchange, TradingRoutes>> = {
  bybit: bybitTrading,
  okx: okxTrading,
  binance: binanceTrading,
  kucoin: kucoinTrading,
  mexc: mexcTrading,
  bitget: bitgetTrading,
  gate: gateTrading,
};
