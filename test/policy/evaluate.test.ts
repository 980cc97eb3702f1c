import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/core/policy/evaluate.ts';
import {
  BTC,
  BTC_CHAIN,
  BTC_COLD,
  CUSTOMER,
  ctx,
  ETH,
  entry,
  intent,
  policy,
  STRANGER,
  USDT,
} from './fixtures.ts';

/** One rule under test followed by a catch-all that blocks, so "matched" is visible. */
function single(when: string, then = 'action: allow'): ReturnType<typeof policy> {
  return policy(`rules:\n  - name: r\n    when: ${when}\n    ${then}\n`);
}

describe('conditions (each one matching and not matching)', () => {
  const cases: [string, string, Parameters<typeof intent>[0], Parameters<typeof ctx>[0], boolean][] = [
    ['initiator id', '{ initiator: { ids: [svc-backoffice] } }', {}, {}, true],
    ['initiator id (other)', '{ initiator: { ids: [svc-other] } }', {}, {}, false],
    ['initiator role', '{ initiator: { roles: [service] } }', {}, {}, true],
    ['initiator role (other)', '{ initiator: { roles: [admin] } }', {}, {}, false],
    ['wallet', '{ wallet: [hot-1] }', {}, {}, true],
    ['wallet (other)', '{ wallet: [cold-1] }', {}, {}, false],
    ['chain', '{ chain: ["eip155:1"] }', {}, {}, true],
    ['chain (other)', `{ chain: ["${BTC_CHAIN}"] }`, {}, {}, false],
    ['asset by CAIP-19', `{ asset: ["${ETH}"] }`, {}, {}, true],
    ['asset by ticker', '{ asset: [eth] }', {}, {}, true],
    ['asset (other)', '{ asset: [USDT] }', {}, {}, false],
    ['amount lt base units', '{ amount: { lt: "1000000000000000001" } }', {}, {}, true],
    ['amount lt base units (equal)', '{ amount: { lt: "1000000000000000000" } }', {}, {}, false],
    ['amount lte', '{ amount: { lte: "1000000000000000000" } }', {}, {}, true],
    ['amount gt', '{ amount: { gt: "999999999999999999" } }', {}, {}, true],
    ['amount gte (below)', '{ amount: { gte: "1000000000000000001" } }', {}, {}, false],
    ['amount in ticker', '{ amount: { gte: "1 ETH", lt: "1.5 ETH" } }', {}, {}, true],
    ['amount in ticker (above)', '{ amount: { lt: "0.999 ETH" } }', {}, {}, false],
    ['amount in another ticker does not apply', '{ amount: { lt: "30000 USDT" } }', {}, {}, false],
    ['USDT decimals', '{ amount: { lt: "25000 USDT" } }', { asset: USDT, amount: '24999999999' }, {}, true],
    [
      'USDT decimals (over)',
      '{ amount: { lt: "25000 USDT" } }',
      { asset: USDT, amount: '25000000000' },
      {},
      false,
    ],
    ['destination known', '{ destination: { known: true } }', {}, {}, true],
    ['destination unknown', '{ destination: { known: false } }', { destination: STRANGER }, {}, true],
    [
      'destination category',
      '{ destination: { category: [customer] } }',
      { destination: CUSTOMER },
      {},
      true,
    ],
    [
      'destination category (other)',
      '{ destination: { category: [internal] } }',
      { destination: CUSTOMER },
      {},
      false,
    ],
    ['destination label', '{ destination: { label: ["ACME Corp"] } }', { destination: CUSTOMER }, {}, true],
    ['firstTime true on empty ledger', '{ destination: { firstTime: true } }', {}, {}, true],
    [
      'firstTime false after a payment',
      '{ destination: { firstTime: false } }',
      {},
      {
        ledger: [
          {
            intentId: 'a',
            wallet: 'hot-1',
            chain: 'eip155:1',
            asset: ETH,
            destination: intent().destination.toLowerCase(),
            amount: '1',
            requestedBy: 'x',
            at: '2025-01-01T00:00:00Z',
          },
        ],
      },
      true,
    ],
    ['operation default transfer', '{ wallet: [hot-1] }', {}, { operation: 'safe.enableModule' }, false],
    ['operation named', '{ operation: [safe.enableModule] }', {}, { operation: 'safe.enableModule' }, true],
    ['screening clear', '{ screening: [clear] }', {}, {}, true],
    ['screening hit', '{ screening: [hit] }', {}, { screening: 'hit' }, true],
    ['screening unavailable', '{ screening: [unavailable] }', {}, { screening: 'unavailable' }, true],
    ['screening (other)', '{ screening: [hit] }', {}, {}, false],
    // 2026-03-04T10:00Z is Wednesday 11:00 in Zurich (CET, UTC+1) and 05:00 in New York.
    [
      'schedule in hours',
      '{ schedule: { timezone: Europe/Zurich, days: [wed], hours: { from: "11:00", to: "12:00" } } }',
      {},
      {},
      true,
    ],
    [
      'schedule before hours',
      '{ schedule: { timezone: Europe/Zurich, hours: { from: "11:01", to: "18:00" } } }',
      {},
      {},
      false,
    ],
    ['schedule other day', '{ schedule: { timezone: Europe/Zurich, days: [mon, tue] } }', {}, {}, false],
    [
      'schedule wraps midnight',
      '{ schedule: { timezone: America/New_York, hours: { from: "22:00", to: "06:00" } } }',
      {},
      {},
      true,
    ],
    [
      'schedule DST (summer, UTC+2)',
      '{ schedule: { timezone: Europe/Zurich, hours: { from: "12:00", to: "12:01" } } }',
      {},
      { now: '2026-07-01T10:00:00Z' },
      true,
    ],
    [
      'percent gt',
      '{ percentOfWalletBalance: { gt: 9.99 } }',
      {},
      { balances: { [`hot-1|${ETH}`]: '10000000000000000000' } },
      true,
    ],
    [
      'percent lte',
      '{ percentOfWalletBalance: { lte: 10 } }',
      {},
      { balances: { [`hot-1|${ETH}`]: '10000000000000000000' } },
      true,
    ],
    [
      'percent lt (equal)',
      '{ percentOfWalletBalance: { lt: 10 } }',
      {},
      { balances: { [`hot-1|${ETH}`]: '10000000000000000000' } },
      false,
    ],
    [
      'percent of zero balance',
      '{ percentOfWalletBalance: { gt: 100 } }',
      {},
      { balances: { [`hot-1|${ETH}`]: '0' } },
      true,
    ],
    [
      'bitcoin exact address',
      '{ destination: { category: [cold-storage] } }',
      { chain: BTC_CHAIN, asset: BTC, destination: BTC_COLD, amount: '100' },
      {},
      true,
    ],
  ];
  it.each(cases)('%s', (_name, when, i, c, matches) => {
    const d = evaluate(single(when), intent(i), ctx(c));
    expect(d.rule).toBe(matches ? 'r' : null);
    expect(d.decision).toBe(matches ? 'allow' : 'block');
  });
});

describe('actions', () => {
  it('allow', () => {
    const d = evaluate(single('{}', 'action: allow\n    delay: 10m'), intent(), ctx());
    expect(d).toMatchObject({ decision: 'allow', rule: 'r', delayMs: 600_000 });
    expect(d.quorum).toBeUndefined();
  });
  it('block with its reason', () => {
    const d = evaluate(single('{}', 'action: block\n    reason: no way'), intent(), ctx());
    expect(d).toMatchObject({ decision: 'block', rule: 'r', delayMs: 0 });
    expect(d.reasons.join(' ')).toContain('no way');
  });
  it('approve with defaults (distinct, excludeRequester) and expiry', () => {
    const d = evaluate(
      single(
        '{}',
        'action: approve\n    approve: { quorum: 2, from: [ops], expiresAfter: 1h }\n    delay: 5m',
      ),
      intent(),
      ctx(),
    );
    expect(d).toMatchObject({
      decision: 'approve',
      delayMs: 300_000,
      quorum: { quorum: 2, from: ['ops'], distinct: true, excludeRequester: true, expiresAfterMs: 3_600_000 },
    });
  });
  it('approve can opt out of excluding the requester', () => {
    const d = evaluate(
      single('{}', 'action: approve\n    approve: { quorum: 1, from: [ops], excludeRequester: false }'),
      intent(),
      ctx(),
    );
    expect(d.quorum?.excludeRequester).toBe(false);
  });
  it('first match wins', () => {
    const p = policy('rules:\n  - { name: a, action: allow }\n  - { name: b, action: block, reason: x }\n');
    expect(evaluate(p, intent(), ctx()).rule).toBe('a');
  });
  it('no match is a block (default deny)', () => {
    const d = evaluate(single('{ wallet: [nope] }'), intent(), ctx());
    expect(d).toMatchObject({ decision: 'block', rule: null });
    expect(d.reasons).toContain('no rule matched: default deny');
  });
  it('every decision carries the policy digest', () => {
    const p = single('{}');
    expect(evaluate(p, intent(), ctx()).policyDigest).toBe(p.digest);
  });
});

describe('address book in the evaluator', () => {
  const p = single('{ destination: { known: true } }');
  it.each([
    [
      'pending (cool-down not over)',
      entry({ status: 'pending', addedAt: '2026-03-04T00:00:00Z', activeFrom: '2026-03-05T00:00:00Z' }),
      false,
    ],
    [
      'pending, cool-down over',
      entry({ status: 'pending', addedAt: '2026-03-01T00:00:00Z', activeFrom: '2026-03-02T00:00:00Z' }),
      true,
    ],
    ['revoked', entry({ status: 'revoked', revokedAt: '2026-03-03T00:00:00Z' }), false],
    ['revocation in effect', entry({ revokedAt: '2026-03-04T09:00:00Z' }), false],
    [
      'cool-down shorter than the policy floor',
      entry({ addedAt: '2026-03-01T00:00:00Z', activeFrom: '2026-03-01T01:00:00Z' }),
      false,
    ],
    ['other chain', entry({ chain: 'eip155:10' }), false],
    ['EVM address in another letter case', entry({ address: intent().destination.toLowerCase() }), true],
  ])('%s', (_n, e, known) => {
    expect(evaluate(p, intent(), ctx({ addressBook: [e] })).decision).toBe(known ? 'allow' : 'block');
  });
});

describe('bad input is blocked with a finding, never allowed', () => {
  const allowAll = single('{}');
  it('unknown asset', () => {
    const d = evaluate(
      allowAll,
      intent({ asset: 'eip155:1/erc20:0x6B175474E89094C44Da98b954EedeAC495271d0F' }),
      ctx(),
    );
    expect(d.decision).toBe('block');
    expect(d.findings.map((f) => f.code)).toContain('UNKNOWN_ASSET');
  });
  it('missing balance for a %-rule', () => {
    const d = evaluate(single('{ percentOfWalletBalance: { lte: 50 } }'), intent(), ctx());
    expect(d).toMatchObject({ decision: 'block', rule: 'r' });
    expect(d.findings.map((f) => f.code)).toContain('BALANCE_UNKNOWN');
  });
  it('missing balance for a %-limit', () => {
    const p = policy(
      'rules: [{ name: r, action: allow }]\nlimits: [{ name: cap, maxPercentOfBalance: 10 }]\n',
    );
    const d = evaluate(p, intent(), ctx());
    expect(d.decision).toBe('block');
    expect(d.findings.map((f) => f.code)).toContain('BALANCE_UNKNOWN');
  });
  it('registry that contradicts the signed policy', () => {
    const p = policy(
      'rules: [{ name: r, action: allow }]\n',
      `assets: { "${ETH}": { symbol: ETH, decimals: 18 } }\n`,
    );
    const d = evaluate(p, intent(), ctx({ assets: { [ETH]: { symbol: 'ETH', decimals: 6 } } }));
    expect(d.findings.map((f) => f.code)).toEqual(['ASSET_REGISTRY_CONFLICT']);
    expect(d.decision).toBe('block');
  });
  it('a threshold finer than the asset', () => {
    const d = evaluate(
      single('{ amount: { lt: "0.0000000001 BTC" } }'),
      intent({ chain: BTC_CHAIN, asset: BTC, destination: BTC_COLD, amount: '1' }),
      ctx(),
    );
    expect(d.decision).toBe('block');
    expect(d.findings.map((f) => f.code)).toContain('POLICY_AMOUNT_TOO_PRECISE');
  });
  it('an unreadable ledger', () => {
    const d = evaluate(
      allowAll,
      intent(),
      ctx({
        ledger: [
          {
            intentId: 'x',
            wallet: 'hot-1',
            chain: 'eip155:1',
            asset: ETH,
            destination: 'x',
            amount: '-5',
            requestedBy: 'x',
            at: 'yesterday',
          },
        ],
      }),
    );
    expect(d.decision).toBe('block');
    expect(d.findings.map((f) => f.code)).toEqual(['LEDGER_INVALID']);
  });
  it('an invalid clock or screening value', () => {
    expect(evaluate(allowAll, intent(), ctx({ now: 'soon' })).decision).toBe('block');
    expect(evaluate(allowAll, intent(), ctx({ screening: 'maybe' as 'clear' })).decision).toBe('block');
  });
});

describe('findings', () => {
  it("a look-alike of one of the wallet's past payees (from the ledger) is flagged", () => {
    const payee = STRANGER; // paid once, under an approval, never in the address book
    const fake = getAddress(`${payee.slice(0, 6)}${'0'.repeat(32)}${payee.slice(-4)}`);
    const ledger = [
      {
        intentId: 'p',
        wallet: 'hot-1',
        chain: 'eip155:1',
        asset: ETH,
        destination: payee,
        amount: '1',
        requestedBy: 'x',
        at: '2026-02-01T00:00:00Z',
      },
    ];
    const d = evaluate(
      single('{ destination: { lookalike: true } }', 'action: block\n    reason: poison'),
      intent({ destination: fake }),
      ctx({ addressBook: [], ledger }),
    );
    expect(d.rule).toBe('r');
    expect(d.findings).toContainEqual(
      expect.objectContaining({
        code: 'LOOKALIKE_DESTINATION',
        details: expect.objectContaining({ mimics: payee, source: 'ledger' }),
      }),
    );
    // another wallet's history is not this wallet's
    expect(
      evaluate(
        single('{ destination: { lookalike: true } }', 'action: block\n    reason: poison'),
        intent({ destination: fake, wallet: 'hot-2' }),
        ctx({ addressBook: [], ledger }),
      ).rule,
    ).toBeNull();
  });
  it('screening hit names the lists', () => {
    const d = evaluate(single('{}'), intent(), ctx({ screening: 'hit', screeningLists: ['ofac/ETH'] }));
    expect(d.findings).toContainEqual(
      expect.objectContaining({
        code: 'SCREENING_HIT',
        details: expect.objectContaining({ lists: ['ofac/ETH'] }),
      }),
    );
  });
  it('a look-alike of a recent destination is flagged even without an address-book entry', () => {
    const recent = intent().destination;
    const fake = `${recent.slice(0, 12)}${recent.slice(12, 13) === 'a' ? 'b' : 'a'}${recent.slice(13)}`;
    const d = evaluate(
      single('{ destination: { lookalike: true } }', 'action: block\n    reason: poison'),
      intent({ destination: getAddress(fake) }),
      ctx({ addressBook: [], recentDestinations: [recent] }),
    );
    expect(d.rule).toBe('r');
  });
});

describe('an unparsed intent', () => {
  it.each(['0', '-1', '1.5', '1e18', ''])('amount %j is refused with a finding', (amount) => {
    const d = evaluate(policy('rules: [{ name: r, action: allow }]\n'), { ...intent(), amount }, ctx());
    expect(d.decision).toBe('block');
    expect(d.findings.map((f) => f.code)).toEqual(['INVALID_INTENT']);
  });
});
