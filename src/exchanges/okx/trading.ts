/**
 * OKX v5 orders and positions, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Instrument types: SPOT (spot), MARGIN (margin), SWAP and FUTURES (linear when settled in USDT or USDC, else
 * inverse), OPTION (option). OKX has no cancel-all for ordinary orders: open orders are cancelled by id through
 * cancel-batch-orders, at most 20 per call. Order operations answer per order (`sCode`, `sMsg`): every order's result is
 * checked, and any failure is an ExchangeError carrying OKX's code. OKX's one `trade` permission covers every instrument
 * type; a key without it gets 50120 (PERMISSION_DENIED through the descriptor).
 */
import * as v from 'valibot';
import { decimal, everyOne, isZero, minus, nonEmpty, signedDecimal } from '../trading-kit.js';
import { ExchangeError, KeyctlError } from '@keyctl/client/errors';
import { createClient, type CallSpec, type ExchangeClient } from '../ccxt.js';
import { badAnswer, obj, ownEntry, parseAnswer, repeats } from '../normalize.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';
import { okx } from './descriptor.js';

type InstType = 'SPOT' | 'MARGIN' | 'SWAP' | 'FUTURES' | 'OPTION';

/** cancel-batch-orders: "Maximum 20 orders can be canceled per request." */
const MAX_BATCH = 20;
/** orders-pending: `limit` "The maximum is 100; The default is 100". */
const PAGE = 100;
const MAX_PAGES = 50;

/**
 * Get order list, `GET /api/v5/trade/orders-pending` (https://www.okx.com/docs-v5/en/#order-book-trading-trade-get-order-list):
 * `data: [...]`, newest first. Read: `instType`, `instId`, `ordId`, `side` buy/sell, `sz` and `accFillSz` (what is
 * left is their difference).
 */
const pendingOrderSchema = v.looseObject({
  instType: v.picklist(['SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION']),
  instId: nonEmpty,
  ordId: v.pipe(v.string(), v.regex(/^\d+$/, 'an order id')),
  side: v.picklist(['buy', 'sell']),
  sz: decimal,
  accFillSz: decimal,
});
const pendingSchema = v.looseObject({ data: v.array(pendingOrderSchema) });

/**
 * Get positions, `GET /api/v5/account/positions` (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions):
 * `data: [...]`. Read: `instType`, `instId`, `pos` (in net mode negative for a short), `posSide` net/long/short and
 * `mgnMode` cross/isolated, which a closing order must repeat as `tdMode`.
 */
const positionSchema = v.looseObject({
  instType: v.picklist(['MARGIN', 'SWAP', 'FUTURES', 'OPTION']),
  instId: nonEmpty,
  pos: signedDecimal,
  posSide: v.picklist(['net', 'long', 'short']),
  mgnMode: v.picklist(['cross', 'isolated']),
});
const positionsSchema = v.looseObject({ data: v.array(positionSchema) });

/**
 * The per-order answer of cancel-batch-orders (https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-cancel-multiple-orders)
 * and place order (https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order): `code` "0" all went
 * through, "1" all failed, "2" some failed; per order `ordId`, `sCode` ("0" success) and `sMsg`.
 */
const orderResultSchema = v.looseObject({ ordId: v.string(), sCode: v.string(), sMsg: v.optional(v.string()) });
const orderResultsSchema = v.looseObject({ code: v.string(), data: v.array(orderResultSchema) });

/** An order operation OKX refused for one order: its `sCode` decides the keyctl code, as the descriptor maps it. */
function refusal(sCode: string, sMsg: string | undefined, action: string, ordId?: string): ExchangeError {
  const code = ownEntry<string>(okx.errors.codes, sCode) ?? 'EXCHANGE_REFUSED';
  return new ExchangeError(code, `okx refused ${action} (${sCode}${sMsg ? ` ${sMsg.slice(0, 160)}` : ''}).`, {
    details: {
      exchange: 'okx',
      exchangeCode: sCode,
      ...(sMsg ? { exchangeMessage: sMsg.slice(0, 160) } : {}),
      ...(ordId ? { ordId } : {}),
    },
    hint:
      code === 'PERMISSION_DENIED'
        ? "This key may not trade: cancel and close in OKX's web UI."
        : "OKX's code above says why; check the bot's orders and positions in OKX's web UI.",
  });
}

/**
 * Every per-order result checked: one per order asked about (`ordIds`, when known), each with sCode "0". Anything
 * else throws: an order OKX did not accept is never taken for done. Exported for the answer-shape tests.
 */
export function checkOkxOrderResults(answer: unknown, endpoint: string, action: string, ordIds?: readonly string[]): string[] {
  const r = parseAnswer(orderResultsSchema, answer, 'okx', endpoint);
  const failed = r.data.find((d) => d.sCode !== '0');
  if (failed) throw refusal(failed.sCode, failed.sMsg, action, failed.ordId || undefined);
  if (r.code !== '0') badAnswer('okx', endpoint, `code: "${r.code}" with every order's sCode "0"`);
  if (ordIds) {
    const answered = r.data.map((d) => d.ordId);
    if (answered.length !== ordIds.length || repeats(answered) > 0 || answered.some((id) => !ordIds.includes(id))) {
      badAnswer('okx', endpoint, 'data: not one result per order asked about');
    }
  } else if (r.data.length !== 1 || !r.data[0]!.ordId) {
    badAnswer('okx', endpoint, 'data: expected one result with an ordId');
  }
  return r.data.map((d) => d.ordId);
}

/**
 * An order operation through ccxt. ccxt throws when `code` is "1" (every order failed), and keyctl's mapping then
 * knows only that "1": the per-order `sCode` is read back from the answer ccxt quoted, so the error carries OKX's
 * reason (51400 "order does not exist", a permission code, ...).
 */
async function orderCall(client: ExchangeClient, method: string, body: unknown, spec: CallSpec): Promise<unknown> {
  try {
    // ccxt's okx sends an array as the JSON body of a batch endpoint (its own cancelOrders does so).
    return await client.call(method, body as Record<string, unknown>, spec);
  } catch (err) {
    if (err instanceof KeyctlError && err.details?.exchangeCode === '1') {
      const cause = (err as { cause?: unknown }).cause;
      const message = cause instanceof Error ? cause.message : '';
      let quoted: unknown;
      try {
        quoted = JSON.parse(message.slice(message.indexOf('{')));
      } catch {
        throw err;
      }
      const data = obj(quoted).data;
      const failed = Array.isArray(data) ? data.map(obj).find((d) => typeof d.sCode === 'string' && d.sCode !== '0') : undefined;
      if (failed) {
        throw refusal(
          failed.sCode as string,
          typeof failed.sMsg === 'string' ? failed.sMsg : undefined,
          spec.action,
          typeof failed.ordId === 'string' && failed.ordId ? failed.ordId : undefined,
        );
      }
    }
    throw err;
  }
}

/** The market of an instrument: SWAP and FUTURES by their settle currency (`BTC-USDT-SWAP` linear, `BTC-USD-SWAP` inverse). */
function marketOf(instType: InstType, instId: string): TradingMarket {
  switch (instType) {
    case 'SPOT':
      return 'spot';
    case 'MARGIN':
      return 'margin';
    case 'OPTION':
      return 'option';
    default: {
      const quote = instId.split('-')[1];
      return quote === 'USDT' || quote === 'USDC' ? 'linear' : 'inverse';
    }
  }
}

function orderTypes(markets: readonly TradingMarket[]): InstType[] {
  const out = new Set<InstType>();
  for (const m of markets) {
    if (m === 'spot') out.add('SPOT');
    if (m === 'margin') out.add('MARGIN');
    if (m === 'linear' || m === 'inverse') {
      out.add('SWAP');
      out.add('FUTURES');
    }
    if (m === 'option') out.add('OPTION');
  }
  return [...out];
}

/** One page of open orders, as keyctl reads it. Exported for the answer-shape tests. */
export function parseOkxPendingOrders(answer: unknown, instType: InstType): OpenOrder[] {
  const endpoint = 'trade/orders-pending';
  const r = parseAnswer(pendingSchema, answer, 'okx', endpoint);
  return r.data.map((o) => {
    if (o.instType !== instType) badAnswer('okx', endpoint, 'data.instType: not the instrument type asked for');
    const qty = minus(o.sz, o.accFillSz);
    if (qty === undefined) badAnswer('okx', endpoint, 'data.accFillSz: more filled than the order size');
    return { id: o.ordId, symbol: o.instId, market: marketOf(o.instType, o.instId), side: o.side, qty };
  });
}

interface LivePosition extends OpenPosition {
  posSide: 'net' | 'long' | 'short';
  mgnMode: 'cross' | 'isolated';
}

/** The derivative positions with a size, as keyctl reads them. Exported for the answer-shape tests. */
export function parseOkxPositions(answer: unknown): LivePosition[] {
  const endpoint = 'account/positions';
  const r = parseAnswer(positionsSchema, answer, 'okx', endpoint);
  const out: LivePosition[] = [];
  for (const p of r.data) {
    if (p.instType === 'MARGIN' || isZero(p.pos)) continue;
    const negative = p.pos.startsWith('-');
    // Net mode signs the position; long/short mode names its side and counts it positive.
    if (p.posSide !== 'net' && negative) badAnswer('okx', endpoint, 'data.pos: negative in long/short mode');
    const side = p.posSide === 'net' ? (negative ? 'short' : 'long') : p.posSide;
    out.push({
      symbol: p.instId,
      market: marketOf(p.instType, p.instId) as LivePosition['market'],
      side,
      size: negative ? p.pos.slice(1) : p.pos,
      posSide: p.posSide,
      mgnMode: p.mgnMode,
    });
  }
  return out;
}

async function readPositions(client: ExchangeClient, params: Record<string, unknown>): Promise<LivePosition[]> {
  const answer = await client.call('privateGetAccountPositions', params, { action: 'listing positions' });
  return parseOkxPositions(answer);
}

export const okxTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    for (const instType of orderTypes(request.markets)) {
      // Pages of 100, newest first; `after` asks for the orders older than an ordId.
      let after: string | undefined;
      for (let page = 0; ; page++) {
        if (page === MAX_PAGES) badAnswer('okx', 'trade/orders-pending', `data: the listing did not end after ${MAX_PAGES} pages`);
        const answer = await client.call(
          'privateGetTradeOrdersPending',
          { instType, limit: PAGE, ...(after ? { after } : {}) },
          { action: 'listing open orders' },
        );
        const found = parseOkxPendingOrders(answer, instType);
        orders.push(...found);
        if (found.length < PAGE) break;
        after = found[found.length - 1]!.id;
      }
    }
    // The same order twice (a page that did not move on): a listing that contradicts itself.
    if (repeats(orders.map((o) => o.id)) > 0) badAnswer('okx', 'trade/orders-pending', 'ordId: an order listed twice');
    return orders.filter((o) => request.markets.includes(o.market));
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    // By instrument, at most 20 per call.
    const byInst = new Map<string, string[]>();
    for (const o of orders) byInst.set(o.symbol, [...(byInst.get(o.symbol) ?? []), o.id]);
    const batches: Array<{ instId: string; ids: string[] }> = [];
    for (const [instId, ids] of byInst) {
      for (let i = 0; i < ids.length; i += MAX_BATCH) batches.push({ instId, ids: ids.slice(i, i + MAX_BATCH) });
    }
    const action = 'cancelling open orders';
    await everyOne(
      batches.map(({ instId, ids }) => async () => {
        const body = ids.map((ordId) => ({ instId, ordId }));
        const answer = await orderCall(client, 'privatePostTradeCancelBatchOrders', body, { action });
        checkOkxOrderResults(answer, 'trade/cancel-batch-orders', action, ids);
      }),
    );
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    const client = await createClient(request.account, request.key, request);
    const types = orderTypes(request.markets).filter((t) => t !== 'SPOT' && t !== 'MARGIN');
    const positions: LivePosition[] = [];
    for (const instType of types) positions.push(...(await readPositions(client, { instType })));
    const keys = positions.map((p) => `${p.symbol} ${p.posSide} ${p.mgnMode}`);
    if (repeats(keys) > 0) badAnswer('okx', 'account/positions', 'instId: a position listed twice');
    return positions.filter((p) => request.markets.includes(p.market)).map(({ posSide: _s, mgnMode: _m, ...p }) => p);
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    if (position.market === 'option') {
      // Place order: `ordType` market is "only applicable to SPOT/MARGIN/FUTURES/SWAP"; `reduceOnly` likewise.
      throw new ExchangeError('CAPABILITY_GAP', `okx has no reduce-only market order for options (${position.symbol}).`, {
        hint: "Close the option position in OKX's web UI.",
        details: { exchange: 'okx', symbol: position.symbol },
      });
    }
    const client = await createClient(request.account, request.key, request);
    // The position as it is now: its margin mode (the order's tdMode), its position side and its current size.
    const live = (await readPositions(client, { instId: position.symbol })).find(
      (p) => p.symbol === position.symbol && p.side === position.side,
    );
    if (!live) return; // Already closed: the caller lists again to confirm.
    const action = 'closing a position';
    const answer = await orderCall(
      client,
      'privatePostTradeOrder',
      {
        instId: live.symbol,
        tdMode: live.mgnMode,
        side: live.side === 'long' ? 'sell' : 'buy',
        ordType: 'market',
        sz: live.size,
        // `reduceOnly` is "only applicable to MARGIN orders, and FUTURES/SWAP orders in net mode"; in long/short mode
        // the order names the position side it closes (selling `long` can only reduce it).
        ...(live.posSide === 'net' ? { reduceOnly: true } : { posSide: live.posSide }),
      },
      { action, retry: 'refused-only' },
    );
    checkOkxOrderResults(answer, 'trade/order', action);
  },
};
