import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { binanceFlagsFor, binanceScopes } from '../../src/exchanges/binance/adapter.js';
import {
  bitgetPermListFor,
  bitgetPermScopes,
  bitgetScopes,
  parseBitgetInfo,
  parseBitgetListing,
} from '../../src/exchanges/bitget/adapter.js';
import { bybitPermissionsFor, bybitScopes, capabilities as bybitCapabilities } from '../../src/exchanges/bybit/adapter.js';
import { remedy } from '../../src/domain/remedy.js';
import { gatePermsFor, gateScopes } from '../../src/exchanges/gate/adapter.js';
import { kucoinPermissionFor, kucoinScopes } from '../../src/exchanges/kucoin/adapter.js';
import { MEXC_PERMISSIONS, mexcPermissionsFor, mexcScopes } from '../../src/exchanges/mexc/adapter.js';
import { MEXC_SUB_KEY_PERMISSIONS } from '../../src/exchanges/mexc/sandbox.js';
import { okxPermFor, okxScopes } from '../../src/exchanges/okx/adapter.js';
import { ExchangeError } from '@keyctl/client/errors';
import type { DeclarableScope } from '../../src/domain/scopes.js';

describe('bybit scope mapping', () => {
  it('maps every trading, transfer and withdraw permission', () => {
    expect(
      bybitScopes(
        {
          Spot: ['SpotTrade'],
          ContractTrade: ['Order', 'Position'],
          Options: ['OptionsTrade'],
          Derivatives: ['DerivativesTrade'],
          Wallet: ['AccountTransfer', 'SubMemberTransferList', 'SubMemberTransfer', 'Withdraw'],
          Exchange: ['ExchangeHistory'],
        },
        { readOnly: false },
      ),
    ).toEqual(['read', 'spot:trade', 'futures:trade', 'options:trade', 'withdraw', 'transfer']);
  });

  it('reports unknown permissions as unknown:Group.Name', () => {
    expect(bybitScopes({ Spot: ['SpotTrade', 'SpotMagic'], NFT: ['NFTQueryProductList'] }, { readOnly: false })).toEqual([
      'read',
      'spot:trade',
      'unknown:NFT.NFTQueryProductList',
      'unknown:Spot.SpotMagic',
    ]);
  });

  it("drops a read-only key's trade groups but keeps what moves funds (the docs are silent on it: the safe reading)", () => {
    expect(bybitScopes({ Spot: ['SpotTrade'] }, { readOnly: true })).toEqual(['read']);
    expect(bybitScopes({ Spot: ['SpotTrade'], Wallet: ['Withdraw'] }, { readOnly: true })).toEqual(['read', 'withdraw']);
  });

  it('gives a read-write master key with a wallet transfer permission keys:manage', () => {
    expect(bybitScopes({ Wallet: ['AccountTransfer'] }, { readOnly: false, isMaster: true })).toEqual(['read', 'transfer', 'keys:manage']);
    // Read-only: no key management, but the transfer permission is still reported.
    expect(bybitScopes({ Wallet: ['AccountTransfer'] }, { readOnly: true, isMaster: true })).toEqual(['read', 'transfer']);
    expect(bybitScopes({ Spot: ['SpotTrade'] }, { readOnly: false, isMaster: true })).toEqual(['read', 'spot:trade']);
  });

  it('round-trips declared scopes through native permissions', () => {
    const declared: DeclarableScope[] = ['read', 'spot:trade', 'futures:trade', 'options:trade'];
    const native = bybitPermissionsFor(declared);
    expect(native).toEqual({ Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'], Options: ['OptionsTrade'] });
    expect(bybitScopes(native, { readOnly: false })).toEqual(declared);
  });

  it('reads Options as options and USDC perpetuals (the docs: "It supports trade option and USDC perpetual")', () => {
    expect(bybitScopes({ Options: ['OptionsTrade'] }, { readOnly: false })).toEqual(['read', 'futures:trade', 'options:trade']);
    expect(bybitCapabilities.impliedScopes).toEqual({ 'options:trade': ['futures:trade'] });
    const slot = (scopes: string[]) => ({
      ref: 'alpha/arb1',
      kind: 'slot' as const,
      exchange: 'bybit',
      scopes,
      boundScopes: bybitCapabilities.boundScopes,
      impliedScopes: bybitCapabilities.impliedScopes!,
      scopesPath: 'bots.alpha.subaccounts.arb1.scopes',
    });
    const excessFutures = { code: 'EXCESS_SCOPE' as const, detail: 'x', scopes: ['futures:trade'] };
    const excessOptions = { code: 'EXCESS_SCOPE' as const, detail: 'x', scopes: ['options:trade'] };
    // A slot declaring options cannot get a key without perpetuals: the remedy is the declared scopes, not rotation.
    expect(remedy(slot(['options:trade']), [excessFutures])).toMatch(
      /bybit grants futures:trade only together .* add futures:trade to bots\.alpha/,
    );
    // One way only: futures alone can be granted, so an options permission on a futures slot is fixed by rotating.
    expect(remedy(slot(['futures:trade']), [excessOptions])).toMatch(/^Run keyctl rotate alpha\/arb1/);
  });

  it('grants margin through SpotTrade (Bybit has no separate margin permission)', () => {
    expect(bybitPermissionsFor(['margin:trade'])).toEqual({ Spot: ['SpotTrade'] });
  });
});

describe('okx scope mapping', () => {
  it('maps read_only, trade (every instrument) and withdraw', () => {
    expect(okxScopes('read_only,trade,withdraw')).toEqual([
      'read',
      'spot:trade',
      'margin:trade',
      'futures:trade',
      'options:trade',
      'withdraw',
    ]);
  });

  it('reports unknown permissions', () => {
    expect(okxScopes('read_only, earn')).toEqual(['read', 'unknown:earn']);
  });

  it('gives a main-account trade key keys:manage', () => {
    expect(okxScopes('read_only,trade', { isMaster: true })).toContain('keys:manage');
    expect(okxScopes('read_only', { isMaster: true })).not.toContain('keys:manage');
  });

  it('round-trips declared scopes', () => {
    expect(okxPermFor(['read'])).toBe('read_only');
    expect(okxPermFor(['spot:trade'])).toBe('read_only,trade');
    expect(okxScopes(okxPermFor(['read']))).toEqual(['read']);
  });
});

describe('binance scope mapping', () => {
  it('maps every permission flag, and only true ones', () => {
    expect(
      binanceScopes({
        enableReading: true,
        enableSpotAndMarginTrading: true,
        enableMargin: true,
        enableFutures: true,
        enableVanillaOptions: true,
        enableWithdrawals: true,
        enableInternalTransfer: true,
        permitsUniversalTransfer: false,
        enableFixApiTrade: false,
        ipRestrict: true,
        createTime: 1,
      }),
    ).toEqual(['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade', 'withdraw', 'transfer']);
    expect(binanceScopes({ permitsUniversalTransfer: true })).toEqual(['transfer']);
  });

  it('reports unknown true flags', () => {
    expect(binanceScopes({ enableReading: true, enableCopyTrading: true, enableSomething: false })).toEqual([
      'read',
      'unknown:enableCopyTrading',
    ]);
  });

  it('round-trips declared scopes through the create flags', () => {
    const declared: DeclarableScope[] = ['spot:trade', 'margin:trade', 'futures:trade', 'options:trade'];
    const flags = binanceFlagsFor(declared);
    expect(flags).toEqual({
      canTrade: true,
      // Never asked for: spot & margin trading comes with enableSpotAndMarginTrading; loan and repay is borrowing.
      canMarginLoanRepay: false,
      canFuturesTrade: true,
      canVanillaOptions: true,
      canUniversalTransfer: false,
    });
    // What Binance reports for a key created with those flags.
    const reported = binanceScopes({
      enableReading: true,
      enableSpotAndMarginTrading: flags.canTrade,
      enableMargin: flags.canMarginLoanRepay,
      enableFutures: flags.canFuturesTrade,
      enableVanillaOptions: flags.canVanillaOptions,
      permitsUniversalTransfer: flags.canUniversalTransfer,
    });
    expect(reported).toEqual(['read', ...declared]);
  });
});

describe('kucoin scope mapping', () => {
  it('maps General, trading, inner transfer and Transfer (withdrawal)', () => {
    expect(kucoinScopes('General,Spot,Margin,Futures,InnerTransfer,Transfer')).toEqual([
      'read',
      'spot:trade',
      'margin:trade',
      'futures:trade',
      'withdraw',
      'transfer',
    ]);
  });

  it('reports unknown permissions', () => {
    expect(kucoinScopes('General,Earn,LeveragedToken')).toEqual(['read', 'unknown:Earn', 'unknown:LeveragedToken']);
  });

  it('round-trips declared scopes', () => {
    const declared: DeclarableScope[] = ['read', 'spot:trade', 'margin:trade', 'futures:trade'];
    expect(kucoinPermissionFor(declared)).toBe('General,Spot,Margin,Futures');
    expect(kucoinScopes(kucoinPermissionFor(declared))).toEqual(declared);
  });

  it('refuses options trading, which KuCoin does not have', () => {
    expect(() => kucoinPermissionFor(['options:trade'])).toThrow(ExchangeError);
  });
});

describe('mexc scope mapping', () => {
  it('maps the account, deal, contract, transfer and withdraw permissions', () => {
    expect(
      mexcScopes(
        'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_WRITE,SPOT_TRANSFER_WRITE,SPOT_WITHDRAW_WRITE',
      ),
    ).toEqual(['read', 'spot:trade', 'futures:trade', 'withdraw', 'transfer']);
    // Rewriting a key's IP whitelist (POST /api/v3/apiKeyInfo) needs SPOT_ACCOUNT_WRITE: key management.
    expect(mexcScopes('SPOT_ACCOUNT_READ,SPOT_ACCOUNT_WRITE')).toEqual(['read', 'keys:manage']);
    expect(mexcScopes('CONTRACT_ACCOUNT_WRITE')).toEqual(['futures:trade']);
  });

  it('knows every permission a master may give a sub key, and withdraw is not among them', () => {
    for (const p of MEXC_SUB_KEY_PERMISSIONS) expect(Object.hasOwn(MEXC_PERMISSIONS, p), p).toBe(true);
    expect(MEXC_SUB_KEY_PERMISSIONS.flatMap((p) => MEXC_PERMISSIONS[p]!)).not.toContain('withdraw');
  });

  it('reports unknown permissions, prototype names included', () => {
    expect(mexcScopes('SPOT_ACCOUNT_READ,SPOT_EARN_WRITE,constructor')).toEqual(['read', 'unknown:SPOT_EARN_WRITE', 'unknown:constructor']);
  });

  it('round-trips declared scopes', () => {
    const declared: DeclarableScope[] = ['read', 'spot:trade', 'futures:trade'];
    expect(mexcPermissionsFor(declared)).toBe(
      'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE',
    );
    expect(mexcScopes(mexcPermissionsFor(declared))).toEqual(declared);
    expect(mexcScopes(mexcPermissionsFor(['read']))).toEqual(['read']);
  });

  it('refuses margin and options trading, which MEXC sub keys cannot be given', () => {
    expect(() => mexcPermissionsFor(['margin:trade'])).toThrow(ExchangeError);
    expect(() => mexcPermissionsFor(['options:trade'])).toThrow(ExchangeError);
  });
});

describe('bitget scope mapping', () => {
  const fixture = (name: string): Record<string, unknown> =>
    JSON.parse(readFileSync(new URL(`../fixtures/exchanges/bitget/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

  it("maps Get Account Information's authorities: read-only codes, trading, transfer, withdrawal, sub-account management", () => {
    expect(bitgetScopes(['stor', 'coor', 'cpor', 'smor', 'taxr', 'chor'])).toEqual(['read']);
    expect(bitgetScopes(['stow', 'smow', 'coow', 'cpow', 'wtow', 'wwow', 'chow'])).toEqual([
      'spot:trade',
      'margin:trade',
      'futures:trade',
      'withdraw',
      'transfer',
      'keys:manage',
    ]);
  });

  it('reports authorities it does not know, and the legacy `trade` whose markets are not said, as unknown', () => {
    expect(bitgetScopes(['readonly', 'trade', 'ttow', 'p2p', 'pllw'])).toEqual([
      'read',
      'unknown:p2p',
      'unknown:pllw',
      'unknown:trade',
      'unknown:ttow',
    ]);
    expect(bitgetScopes(['constructor', '__proto__'])).toEqual(['unknown:__proto__', 'unknown:constructor']);
  });

  it("maps a listing's permList, and round-trips declared scopes through the create permList", () => {
    expect(bitgetPermScopes(['read', 'spot_trade', 'margin_trade', 'contract_trade', 'wallet_transfer', 'wallet_withdraw'])).toEqual([
      'read',
      'spot:trade',
      'margin:trade',
      'futures:trade',
      'withdraw',
      'transfer',
    ]);
    expect(bitgetPermScopes(['contract_order', 'contract_position', 'copytrading_trade'])).toEqual([
      'futures:trade',
      'unknown:copytrading_trade',
    ]);
    const declared: DeclarableScope[] = ['spot:trade', 'margin:trade', 'futures:trade'];
    expect(bitgetPermListFor(declared)).toEqual(['spot_trade', 'margin_trade', 'contract_trade']);
    expect(bitgetPermScopes(bitgetPermListFor(declared))).toEqual(declared);
    expect(bitgetPermListFor(['read'])).toEqual(['read']);
  });

  it('refuses options trading, which Bitget does not have', () => {
    expect(() => bitgetPermListFor(['spot:trade', 'options:trade'])).toThrow(ExchangeError);
  });

  it('reads the documented listing, keyctl labels and all', () => {
    expect(parseBitgetListing(fixture('virtual-subaccount-apikey-list'), '6200000001')).toEqual([
      {
        apiKey: 'bg_FAKE0000000000000000000000000001',
        label: 'keyctl-0123456789ab',
        scopes: ['spot:trade', 'futures:trade'],
        ips: ['203.0.113.10'],
      },
      {
        apiKey: 'bg_FAKE0000000000000000000000000002',
        label: 'made-by-hand',
        scopes: ['spot:trade', 'margin:trade', 'withdraw', 'unknown:copytrading_trade'],
        ips: 'unrestricted',
      },
    ]);
    // A listing that answers for another sub-account cannot say what this one holds.
    expect(() => parseBitgetListing(fixture('virtual-subaccount-apikey-list'), '6200000002')).toThrow(/subAccountUid/);
  });

  it('fails closed on answers of another shape: never fewer permissions, never a wider or narrower allowlist', () => {
    const info = fixture('account-info-sub-clean').data as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>) => () => parseBitgetInfo({ ...info, ...patch });
    expect(bad({ authorities: 'stor,stow' })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ authorities: [] })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ authorities: ['stor', 'stor'] })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ authorities: ['stow', 'spot trade'] })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ ips: ['203.0.113.10'] })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ ips: '203.0.113.10,somewhere' })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ userId: undefined })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(bad({ parentId: 'main' })).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    expect(parseBitgetInfo(info)).toMatchObject({
      readOnly: false,
      owner: { uid: '6200000001', isMaster: false, subaccount: '6200000001' },
    });
    expect(parseBitgetInfo({ ...info, authorities: ['stor', 'coor'] }).readOnly).toBe(true);
    expect(parseBitgetInfo({ ...info, authorities: ['stor', 'ttow'] }).readOnly).toBe(false);
  });
});

describe('gate scope mapping', () => {
  const rw = (...names: string[]) => names.map((name) => ({ name, read_only: false }));
  const ro = (...names: string[]) => names.map((name) => ({ name, read_only: true }));

  it('maps every documented permission read-write: spot is spot and margin, wallet is withdrawals, account manages keys', () => {
    expect(gateScopes(rw('spot', 'margin', 'unified', 'futures', 'delivery', 'options'))).toEqual([
      'read',
      'spot:trade',
      'margin:trade',
      'futures:trade',
      'options:trade',
    ]);
    expect(gateScopes(rw('wallet'))).toEqual(['read', 'withdraw']);
    expect(gateScopes(rw('account'))).toEqual(['read', 'keys:manage']);
    // Documented names keyctl has no scope for (they move funds): unknown, so the policy flags them.
    expect(gateScopes(rw('earn', 'loan', 'copy', 'custody'))).toEqual([
      'read',
      'unknown:copy',
      'unknown:custody',
      'unknown:earn',
      'unknown:loan',
    ]);
  });

  it('reads any permission read-only as read, and nothing more', () => {
    expect(gateScopes(ro('spot', 'futures', 'wallet', 'account', 'earn'))).toEqual(['read']);
    expect(gateScopes([])).toEqual([]);
  });

  it('reports names it does not know as unknown:<name>, read-only or not, prototype names included', () => {
    expect(gateScopes([...rw('staking'), ...ro('launchpad')])).toEqual(['unknown:launchpad', 'unknown:staking']);
    expect(gateScopes(rw('constructor', '__proto__', 'toString'))).toEqual([
      'unknown:__proto__',
      'unknown:constructor',
      'unknown:toString',
    ]);
  });

  it('round-trips declared scopes through the create perms', () => {
    expect(gatePermsFor(['read'])).toEqual(ro('spot'));
    expect(gateScopes(gatePermsFor(['read']))).toEqual(['read']);
    const declared: DeclarableScope[] = ['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade'];
    expect(gatePermsFor(declared)).toEqual(rw('spot', 'futures', 'options'));
    expect(gateScopes(gatePermsFor(declared))).toEqual(declared);
    // One permission for spot and margin: asking for either grants both.
    expect(gateScopes(gatePermsFor(['margin:trade']))).toEqual(['read', 'spot:trade', 'margin:trade']);
    expect(gatePermsFor(['futures:trade'])).toEqual([...ro('spot'), ...rw('futures')]);
  });
});
