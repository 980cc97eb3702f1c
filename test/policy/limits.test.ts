import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/core/policy/evaluate.ts';
import { LedgerIndex } from '../../src/core/policy/ledger.ts';
import type { LedgerEntry } from '../../src/core/policy/types.ts';
import { CUSTOMER, ctx, ETH, evmAddress, intent, KRAKEN, policy } from './fixtures.ts';

const E18 = 10n ** 18n;
function spent(amountEth: bigint, at: string, over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    intentId: `i-${at}-${amountEth}`,
    wallet: 'hot-1',
    chain: 'eip155:1',
    asset: ETH,
    destination: KRAKEN,
    amount: (amountEth * E18).toString(),
    requestedBy: 'svc-backoffice',
    at,
    ...over,
  };
}

const LIMITS = `rules: [{ name: r, action: allow }]
limits:
  - name: daily
    per: [wallet]
    window: 24h
    sum: "10 ETH"
    onExceed: { approve: { quorum: 2, from: [treasury] }, delay: 1h }
  - name: per-destination
    per: [wallet, destination]
    window: 1h
    count: 2
    onExceed: block
`;

describe('limits', () => {
  const p = policy(LIMITS);
  it('reports usage under the limit and allows', () => {
    const d = evaluate(
      p,
      intent({ amount: (3n * E18).toString() }),
      ctx({ ledger: [spent(5n, '2026-03-04T08:00:00Z')] }),
    );
    expect(d.decision).toBe('allow');
    expect(d.limits[0]).toMatchObject({
      limit: 'daily',
      kind: 'sum',
      window: '24h',
      used: (5n * E18).toString(),
      max: (10n * E18).toString(),
      wouldBe: (8n * E18).toString(),
      exceeded: false,
    });
  });
  it('escalates to approval when the rolling sum would be exceeded', () => {
    const d = evaluate(
      p,
      intent({ amount: (6n * E18).toString() }),
      ctx({ ledger: [spent(5n, '2026-03-04T08:00:00Z')] }),
    );
    expect(d).toMatchObject({
      decision: 'approve',
      quorum: { quorum: 2, from: ['treasury'] },
      delayMs: 3_600_000,
    });
  });
  it('forgets spending that left the window', () => {
    const d = evaluate(
      p,
      intent({ amount: (6n * E18).toString() }),
      ctx({ ledger: [spent(5n, '2026-03-03T10:00:00Z')] }),
    );
    expect(d.decision).toBe('allow');
  });
  it('counts entries stamped in the future (clock skew cannot hide spending)', () => {
    const d = evaluate(
      p,
      intent({ amount: (6n * E18).toString() }),
      ctx({ ledger: [spent(5n, '2026-03-05T10:00:00Z')] }),
    );
    expect(d.decision).toBe('approve');
  });
  it('blocks on a count limit per destination (case-insensitive for EVM)', () => {
    const ledger = [
      spent(1n, '2026-03-04T09:30:00Z', { destination: KRAKEN.toLowerCase() }),
      spent(1n, '2026-03-04T09:40:00Z'),
      spent(1n, '2026-03-04T09:40:00Z', { destination: CUSTOMER }),
    ];
    const d = evaluate(p, intent(), ctx({ ledger }));
    expect(d.decision).toBe('block');
    expect(d.limits.find((l) => l.limit === 'per-destination')).toMatchObject({
      used: '2',
      wouldBe: '3',
      exceeded: true,
    });
    expect(evaluate(p, intent({ destination: CUSTOMER }), ctx({ ledger })).decision).toBe('allow');
  });
  it('sums only the same asset', () => {
    const ledger = [
      spent(9n, '2026-03-04T08:00:00Z', {
        asset: 'eip155:1/erc20:0xdAC17F958D2ee523a2206206994597C13D831ec7',
      }),
    ];
    expect(evaluate(p, intent({ amount: (2n * E18).toString() }), ctx({ ledger })).decision).toBe('allow');
  });
  it('does not lower a stricter rule quorum', () => {
    const q = policy(
      LIMITS.replace(
        'rules: [{ name: r, action: allow }]',
        'rules: [{ name: r, action: approve, approve: { quorum: 3, from: [execs] } }]',
      ),
    );
    const d = evaluate(q, intent({ amount: (11n * E18).toString() }), ctx());
    expect(d.quorum?.quorum).toBe(3);
  });
  it('a blocking rule stays blocked whatever the limits say', () => {
    const q = policy(LIMITS.replace('action: allow }', 'action: block, reason: no }'));
    expect(evaluate(q, intent({ amount: (11n * E18).toString() }), ctx()).decision).toBe('block');
  });
  it('caps a single withdrawal at a % of balance', () => {
    const q = policy(
      'rules: [{ name: r, action: allow }]\nlimits: [{ name: cap, maxPercentOfBalance: 25, onExceed: block }]\n',
    );
    const balances = { [`hot-1|${ETH}`]: (8n * E18).toString() };
    expect(evaluate(q, intent({ amount: (2n * E18).toString() }), ctx({ balances })).decision).toBe('allow');
    const d = evaluate(q, intent({ amount: (2n * E18 + 1n).toString() }), ctx({ balances }));
    expect(d.decision).toBe('block');
    expect(d.limits[0]).toMatchObject({
      kind: 'percentOfBalance',
      max: '2500',
      wouldBe: '2501',
      exceeded: true,
    });
  });
  it('per initiator', () => {
    const q = policy(
      'rules: [{ name: r, action: allow }]\nlimits: [{ name: i, per: [initiator], window: 1h, count: 1 }]\n',
    );
    const ledger = [spent(1n, '2026-03-04T09:30:00Z', { wallet: 'hot-2' })];
    expect(evaluate(q, intent(), ctx({ ledger })).decision).toBe('block');
    expect(evaluate(q, intent({ requestedBy: 'someone-else' }), ctx({ ledger })).decision).toBe('allow');
  });
});

describe('ledger index', () => {
  it('matches a linear scan after in-order and out-of-order appends', () => {
    const idx = new LedgerIndex();
    const all: LedgerEntry[] = [];
    const times = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4];
    for (const [n, h] of times.entries()) {
      const e = spent(BigInt(n + 1), `2026-03-04T0${h}:00:00Z`);
      idx.add(e);
      all.push(e);
      if (n === 4) idx.usage(['wallet'], { ...e, requestedBy: e.requestedBy }, 0); // build the grouping mid-way
    }
    for (const since of [0, Date.parse('2026-03-04T03:00:00Z'), Date.parse('2026-03-04T07:30:00Z')]) {
      const expected = all.filter((e) => Date.parse(e.at) >= since);
      const got = idx.usage(['wallet'], all[0]!, since);
      expect(got.count).toBe(expected.length);
      expect(got.sum).toBe(expected.reduce((s, e) => s + BigInt(e.amount), 0n));
    }
  });

  it('keeps the last 64 distinct payees per wallet and chain, newest last, EVM case-insensitive', () => {
    const idx = new LedgerIndex();
    for (let i = 0; i < 70; i++)
      idx.add(
        spent(1n, `2026-03-04T09:${String(i % 60).padStart(2, '0')}:00Z`, { destination: evmAddress(i) }),
      );
    idx.add(spent(1n, '2026-03-04T10:00:00Z', { destination: evmAddress(10).toLowerCase() }));
    const recent = idx.recentDestinations('hot-1', 'eip155:1');
    expect(recent).toHaveLength(64);
    expect(recent.at(-1)).toBe(evmAddress(10).toLowerCase());
    expect(recent.filter((a) => a.toLowerCase() === evmAddress(10).toLowerCase())).toHaveLength(1);
    expect(recent).not.toContain(evmAddress(0));
    expect(idx.recentDestinations('hot-2', 'eip155:1')).toEqual([]);
  });
});
