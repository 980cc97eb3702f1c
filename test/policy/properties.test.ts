import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { evaluate } from '../../src/core/policy/evaluate.ts';
import { LedgerIndex } from '../../src/core/policy/ledger.ts';
import { loadPolicy } from '../../src/core/policy/load.ts';
import { boundedEditDistance } from '../../src/core/policy/lookalike.ts';
import type { LedgerEntry } from '../../src/core/policy/types.ts';
import { ctx, ETH, evmAddress, intent, policy } from './fixtures.ts';

const E18 = 10n ** 18n;
const amountArb = fc.bigInt({ min: 1n, max: 10_000n * E18 });

describe('properties', () => {
  it('default deny: an intent no rule matches is blocked, whatever the context', () => {
    // Rules that can only match a wallet the intents never use.
    const p = policy(
      'rules:\n  - { name: a, action: allow, when: { wallet: [never] } }\n  - { name: b, action: approve, when: { wallet: [never2] }, approve: { quorum: 1, from: [x] } }\n',
    );
    fc.assert(
      fc.property(
        amountArb,
        fc.constantFrom('clear', 'hit', 'unavailable' as const),
        fc.constantFrom('transfer', 'safe.enableModule', 'approve'),
        fc.integer({ min: 0, max: 50 }),
        (amount, screening, operation, dest) => {
          const d = evaluate(
            p,
            intent({ amount: amount.toString(), destination: evmAddress(dest) }),
            ctx({ screening: screening as 'clear', operation }),
          );
          expect(d.decision).toBe('block');
          expect(d.rule).toBeNull();
        },
      ),
    );
  });

  it('raising the amount never lowers the required quorum under the default tiered policy', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../examples/policies/default.yaml', import.meta.url), 'utf8');
    const p = loadPolicy(text, 'default.yaml');
    // block counts as "infinitely many approvals", allow as zero.
    const weight = (d: ReturnType<typeof evaluate>) =>
      d.decision === 'block' ? Number.POSITIVE_INFINITY : d.decision === 'allow' ? 0 : d.quorum!.quorum;
    const ledgerArb = fc.array(
      fc.record({
        amount: fc.bigInt({ min: 1n, max: 500n * E18 }),
        minutesAgo: fc.integer({ min: 0, max: 2000 }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(amountArb, amountArb, ledgerArb, (a, b, past) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const ledger: LedgerEntry[] = past.map((x, i) => ({
          intentId: `p${i}`,
          wallet: 'hot-1',
          chain: 'eip155:1',
          asset: ETH,
          destination: intent().destination,
          amount: x.amount.toString(),
          requestedBy: 'svc',
          at: new Date(Date.parse('2026-03-04T10:00:00Z') - x.minutesAgo * 60_000).toISOString(),
        }));
        const c = ctx({ ledger: new LedgerIndex(ledger) });
        const dLo = evaluate(p, intent({ amount: lo.toString() }), c);
        const dHi = evaluate(p, intent({ amount: hi.toString() }), c);
        expect(weight(dHi)).toBeGreaterThanOrEqual(weight(dLo));
      }),
    );
  });

  it('limits are never exceeded by any sequence of allowed intents', () => {
    const p = policy(`rules: [{ name: r, action: allow }]
limits:
  - { name: sum1h, per: [wallet], window: 1h, sum: "5 ETH", onExceed: { approve: { quorum: 1, from: [ops] } } }
  - { name: count10m, per: [wallet, destination], window: 10m, count: 3, onExceed: block }
  - { name: sum24h, per: [initiator], window: 24h, sum: "12 ETH", onExceed: block }
`);
    const stepArb = fc.record({
      amount: fc.bigInt({ min: 1n, max: 3n * E18 }),
      gapSec: fc.integer({ min: 0, max: 1800 }),
      dest: fc.integer({ min: 0, max: 2 }),
      wallet: fc.constantFrom('hot-1', 'hot-2'),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), (steps) => {
        const ledger = new LedgerIndex();
        const allowed: LedgerEntry[] = [];
        let t = Date.parse('2026-03-04T00:00:00Z');
        steps.forEach((s, i) => {
          t += s.gapSec * 1000;
          const now = new Date(t).toISOString();
          const it = intent({
            amount: s.amount.toString(),
            wallet: s.wallet,
            destination: evmAddress(s.dest),
          });
          const d = evaluate(p, it, ctx({ now, ledger }));
          if (d.decision !== 'allow') return;
          const e: LedgerEntry = {
            intentId: `s${i}`,
            wallet: it.wallet,
            chain: it.chain,
            asset: it.asset,
            destination: it.destination,
            amount: it.amount,
            requestedBy: it.requestedBy,
            at: now,
          };
          ledger.add(e);
          allowed.push(e);
          // Check every window ending at this instant by brute force.
          const inWindow = (ms: number) => allowed.filter((x) => Date.parse(x.at) > t - ms);
          const sum = (xs: LedgerEntry[]) => xs.reduce((a, x) => a + BigInt(x.amount), 0n);
          expect(sum(inWindow(3_600_000).filter((x) => x.wallet === it.wallet))).toBeLessThanOrEqual(
            5n * E18,
          );
          expect(
            inWindow(600_000).filter((x) => x.wallet === it.wallet && x.destination === it.destination)
              .length,
          ).toBeLessThanOrEqual(3);
          expect(sum(inWindow(86_400_000))).toBeLessThanOrEqual(12n * E18);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('reordering YAML keys never changes the digest', () => {
    const base = {
      version: 1,
      name: 'p',
      assets: { [ETH]: { symbol: 'ETH', decimals: 18 } },
      rules: [
        { name: 'a', action: 'block', reason: 'x', when: { screening: ['hit'], wallet: ['w1', 'w2'] } },
        {
          name: 'b',
          action: 'approve',
          approve: { quorum: 2, from: ['ops'], expiresAfter: '1h' },
          delay: '5m',
          when: { amount: { gte: '1 ETH', lt: '2 ETH' } },
        },
      ],
      limits: [{ name: 'l', per: ['wallet'], window: '24h', sum: '10 ETH', onExceed: 'block' }],
    };
    const digest = loadPolicy(stringify(base), 'a.yaml').digest;
    const shuffle = (v: unknown, seed: number): unknown => {
      if (Array.isArray(v)) return v.map((x, i) => shuffle(x, seed + i));
      if (v && typeof v === 'object') {
        const entries = Object.entries(v as Record<string, unknown>);
        const keyed = entries.map(([k, x], i) => ({ k, x, r: Math.sin(seed * 97 + i * 13) }));
        keyed.sort((p1, p2) => p1.r - p2.r);
        return Object.fromEntries(keyed.map(({ k, x }, i) => [k, shuffle(x, seed * 7 + i)]));
      }
      return v;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.boolean(), (seed, flow) => {
        const text = stringify(shuffle(base, seed), flow ? { collectionStyle: 'flow' } : {});
        expect(loadPolicy(text, 'b.yaml').digest).toBe(digest);
      }),
    );
  });

  it('evaluation is deterministic: same inputs, same decision, and the inputs are not modified', () => {
    const p = policy(
      'rules:\n  - { name: a, action: allow, when: { amount: { lt: "5 ETH" }, destination: { known: true } } }\n  - { name: b, action: approve, approve: { quorum: 2, from: [ops] } }\nlimits: [{ name: l, per: [wallet], window: 1h, sum: "7 ETH" }]\n',
    );
    fc.assert(
      fc.property(amountArb, fc.integer({ min: 0, max: 5 }), (amount, dest) => {
        const it = intent({ amount: amount.toString(), destination: evmAddress(dest) });
        const c = ctx();
        const before = JSON.stringify([it, c]);
        const d1 = evaluate(p, it, c);
        const d2 = evaluate(p, structuredClone(it), structuredClone(c));
        expect(d2).toEqual(d1);
        expect(JSON.stringify([it, c])).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('bounded edit distance agrees with the full Levenshtein distance', () => {
    const lev = (a: string, b: string) => {
      const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
      for (let j = 1; j <= b.length; j++) d[0]![j] = j;
      for (let i = 1; i <= a.length; i++)
        for (let j = 1; j <= b.length; j++)
          d[i]![j] = Math.min(
            d[i - 1]![j]! + 1,
            d[i]![j - 1]! + 1,
            d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
          );
      return d[a.length]![b.length]!;
    };
    const s = fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 12 });
    fc.assert(
      fc.property(s, s, fc.integer({ min: 0, max: 5 }), (a, b, max) => {
        expect(boundedEditDistance(a, b, max)).toBe(Math.min(lev(a, b), max + 1));
      }),
      { numRuns: 2000 },
    );
  });
});
