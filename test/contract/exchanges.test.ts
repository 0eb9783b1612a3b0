import { exchangeAdapterSuite } from './exchange-suite.js';
import { inspectOnlySuite } from './inspect-only-suite.js';

const BYBIT_BOT = { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] };
exchangeAdapterSuite({
  exchange: 'bybit',
  masterPermissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
  botScopes: ['spot:trade', 'futures:trade'],
  botPermissions: BYBIT_BOT,
  excess: { declared: ['spot:trade'], permissions: BYBIT_BOT },
  unknownPermissions: { ...BYBIT_BOT, Earn: ['Earn'] },
  ipRefusalCode: '10010',
  inspectUsesMaster: false,
});

exchangeAdapterSuite({
  exchange: 'okx',
  masterPermissions: 'read_only,trade',
  // OKX's one `trade` permission covers every instrument type, so a trading slot declares all four.
  botScopes: ['spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
  botPermissions: 'read_only,trade',
  excess: { declared: ['read'], permissions: 'read_only,trade' },
  unknownPermissions: 'read_only,trade,earn',
  cannotExpress: { expiry: 'OKX reports no key expiry (it deletes expired keys)' },
  ipRefusalCode: '50110',
  inspectUsesMaster: true,
});

const BINANCE_BOT = { enableReading: true, enableSpotAndMarginTrading: true, enableFutures: true };
exchangeAdapterSuite({
  exchange: 'binance',
  // Managing sub-account keys needs "Enable Spot & Margin Trading" on the master (exchange-binance-docs.test.ts).
  masterPermissions: { enableReading: true, enableSpotAndMarginTrading: true },
  // One flag grants spot and margin trading together, so a trading slot declares both.
  botScopes: ['spot:trade', 'margin:trade', 'futures:trade'],
  botPermissions: BINANCE_BOT,
  excess: { declared: ['spot:trade', 'margin:trade'], permissions: BINANCE_BOT },
  unknownPermissions: { ...BINANCE_BOT, enableCopyTrading: true },
  inspectUsesMaster: true,
});

exchangeAdapterSuite({
  exchange: 'kucoin',
  masterPermissions: 'General',
  botScopes: ['spot:trade', 'futures:trade'],
  botPermissions: 'General,Spot,Futures',
  excess: { declared: ['spot:trade'], permissions: 'General,Spot,Futures' },
  unknownPermissions: 'General,Spot,Futures,Earn',
  cannotExpress: { expiry: 'KuCoin documents no expiry on /api/v1/user/api-key (https://www.kucoin.com/docs-new/api-3470130)' },
  ipRefusalCode: '400006',
  inspectUsesMaster: false,
});

// MEXC tells a sub key's permissions only to the master (the sub-account key listing); the master manages sub keys with
// SPOT_ACCOUNT_READ (https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints).
const MEXC_BOT = 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE';
exchangeAdapterSuite({
  exchange: 'mexc',
  masterPermissions: 'SPOT_ACCOUNT_READ',
  botScopes: ['spot:trade', 'futures:trade'],
  botPermissions: MEXC_BOT,
  excess: { declared: ['spot:trade'], permissions: MEXC_BOT },
  unknownPermissions: `${MEXC_BOT},SPOT_EARN_WRITE`,
  cannotExpress: {
    expiry: 'MEXC documents no key expiry in its sub-account key listing (https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints)',
  },
  ipRefusalCode: '700006',
  inspectUsesMaster: true,
  // MEXC tells a key nothing of its own IP whitelist (docs/exchanges.md, MEXC).
  masterGaps: ['ip-lock-unverifiable'],
});

// Bitget: authorities of Get Account Information (https://www.bitget.com/api-doc/spot/account/Get-Account-Info).
const BITGET_BOT = 'stor,stow,coor,cpor,coow,cpow';
exchangeAdapterSuite({
  exchange: 'bitget',
  masterPermissions: 'stor,chor,chow',
  botScopes: ['spot:trade', 'futures:trade'],
  botPermissions: BITGET_BOT,
  excess: { declared: ['spot:trade'], permissions: BITGET_BOT },
  unknownPermissions: `${BITGET_BOT},ttow`,
  cannotExpress: {
    expiry: 'Bitget documents no key expiry (https://www.bitget.com/api-doc/spot/account/Get-Account-Info)',
    createdAt:
      'Bitget returns no key creation time: regisTime is the account registration, and the key listing has none (https://www.bitget.com/api-doc/common/vsubaccount/Get-Virtual-Subaccount-ApiKey-List)',
  },
  ipRefusalCode: '40018',
  inspectUsesMaster: false,
});

// Inspect-only exchanges (assisted rotation, keys read by API): test/contract/inspect-only-suite.ts.
inspectOnlySuite({
  exchange: 'coinbase',
  botScopes: ['spot:trade', 'futures:trade'],
  botPermissions: { can_view: true, can_trade: true },
  excess: { declared: ['read'], permissions: { can_view: true, can_trade: true } },
  unknownPermissions: { can_view: true, can_trade: true, can_stake: true },
  // key_permissions reports no IP allowlist (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions).
  gaps: ['ip-lock-unverifiable'],
  reportsOwner: true,
});

// Kraken's permission values, as the sandbox's admin API takes them (a comma list).
const KRAKEN_BOT = 'query-funds,query-open-trades,query-closed-trades,modify-trades,close-trades';
inspectOnlySuite({
  exchange: 'kraken',
  // Create & modify orders can open margin positions too, so a Kraken trading slot declares both.
  botScopes: ['spot:trade', 'margin:trade'],
  botPermissions: KRAKEN_BOT,
  excess: { declared: ['read'], permissions: KRAKEN_BOT },
  unknownPermissions: `${KRAKEN_BOT},fake-new-permission`,
  // GetApiKeyInfo reports the allowlist, the expiry and the account (IIBAN): nothing is unverifiable.
  gaps: [],
  reportsOwner: true,
});

const BITFINEX_BOT = { orders: ['read', 'write'], positions: ['read', 'write'], wallets: ['read'], history: ['read'] };
inspectOnlySuite({
  exchange: 'bitfinex',
  // An order on Bitfinex may be an exchange (spot), margin or derivatives order: a trading slot declares all three.
  botScopes: ['spot:trade', 'margin:trade', 'futures:trade'],
  botPermissions: BITFINEX_BOT,
  excess: { declared: ['read'], permissions: BITFINEX_BOT },
  unknownPermissions: { ...BITFINEX_BOT, eaas_brokerage: ['read', 'write'] },
  // auth/r/permissions reports neither the IP restriction nor the owner (https://docs.bitfinex.com/reference/key-permissions).
  gaps: ['ip-lock-unverifiable', 'owner-unverifiable'],
  reportsOwner: false,
});

// Gate: permission name -> read_only. `spot` is spot and margin in one permission; `account` read-write is what keyctl
// asks of a master (the sub-account key endpoints need no documented permission, see src/exchanges/gate/descriptor.ts).
const GATE_BOT = { spot: false, futures: false };
exchangeAdapterSuite({
  exchange: 'gate',
  masterPermissions: { account: false },
  botScopes: ['spot:trade', 'margin:trade', 'futures:trade'],
  botPermissions: GATE_BOT,
  excess: { declared: ['spot:trade', 'margin:trade'], permissions: GATE_BOT },
  unknownPermissions: { ...GATE_BOT, staking: false },
  cannotExpress: {
    expiry:
      'Gate reports no key expiry (a key without an IP whitelist lapses after 90 days, https://www.gate.io/help/guide/faq/17521, and keyctl never keeps one)',
  },
  ipRefusalCode: 'IP_FORBIDDEN',
  inspectUsesMaster: true,
});
