import { evaluate as celEvaluate, parse as celParse } from 'cel-js';
import { getAddress } from 'viem';
import { AddressBookIndex } from '../../src/core/addressbook/index.ts';
import type { Intent } from '../../src/core/intent/schema.ts';
import { type EvalContext, evaluate } from '../../src/core/policy/evaluate.ts';
import { LedgerIndex } from '../../src/core/policy/ledger.ts';
import { loadPolicy } from '../../src/core/policy/load.ts';
import type { AddressBookEntry, LedgerEntry } from '../../src/core/policy/types.ts';
import { buildListSet } from '../../src/core/screening/lists.ts';
import { type BenchSuite, type Measurement, measureSync } from '../report.ts';

/**
 * Policy engine bench: 100 rules + 3 rolling limits over a ledger of 100 000 past withdrawals;
 * the same rules as CEL expressions run by cel-js (the language Turnkey and CubeSigner use), in the
 * same run; and screening lookups against 100 000 listed addresses.
 */
const CHAIN = 'eip155:1';
const ETH = 'eip155:1/slip44:60';
const WALLETS = 24;
const E18 = 10n ** 18n;

/** Deterministic PRNG (xorshift32) so every run benchmarks the same workload. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

function addr(n: number): `0x${string}` {
  const hex = (BigInt(n + 1) * 0x9e3779b97f4a7c15f39cc0605cedc835n).toString(16).padStart(40, '0').slice(-40);
  return getAddress(`0x${hex}`);
}

interface Tier {
  name: string;
  lt?: bigint;
  action: 'allow' | 'approve';
  quorum?: number;
}
const TIERS: Tier[] = [
  { name: 'small', lt: 10n * E18, action: 'allow' },
  { name: 'medium', lt: 100n * E18, action: 'approve', quorum: 1 },
  { name: 'large', lt: 1000n * E18, action: 'approve', quorum: 2 },
  { name: 'huge', action: 'approve', quorum: 3 },
];

/** 3 guard rules + 24 wallets × 4 tiers + 1 = 100 rules, in YAML and in CEL. */
function buildPolicies(): { yaml: string; cel: { name: string; expr: string }[] } {
  const rules: string[] = [
    '  - { name: block-hit, when: { screening: [hit, unavailable] }, action: block, reason: screening }',
    '  - { name: block-lookalike, when: { destination: { lookalike: true } }, action: block, reason: poison }',
    '  - { name: block-unknown, when: { destination: { known: false } }, action: block, reason: unknown }',
  ];
  const cel = [
    { name: 'block-hit', expr: 'screening in ["hit", "unavailable"]' },
    { name: 'block-lookalike', expr: 'lookalike == true' },
    { name: 'block-unknown', expr: 'known == false' },
  ];
  for (let w = 0; w < WALLETS; w++) {
    for (const t of TIERS) {
      const name = `w${w}-${t.name}`;
      const amount = t.lt === undefined ? '' : `, amount: { lt: "${t.lt}" }`;
      const then =
        t.action === 'allow'
          ? 'action: allow'
          : `action: approve, approve: { quorum: ${t.quorum}, from: [ops] }`;
      rules.push(
        `  - { name: ${name}, when: { wallet: [hot-${w}], asset: [ETH], initiator: { roles: [backoffice] }, destination: { category: [exchange, customer] }${amount} }, ${then} }`,
      );
      const amountCel = t.lt === undefined ? '' : ` && amount < ${t.lt}.0`;
      cel.push({
        name,
        expr: `wallet == "hot-${w}" && asset == "ETH" && "backoffice" in roles && category in ["exchange", "customer"]${amountCel}`,
      });
    }
  }
  rules.push('  - { name: catch-all, action: approve, approve: { quorum: 3, from: [ops] } }');
  cel.push({ name: 'catch-all', expr: 'true' });
  const yaml = `version: 1
name: bench
assets: { "${ETH}": { symbol: ETH, decimals: 18 } }
rules:
${rules.join('\n')}
limits:
  - { name: wallet-daily, per: [wallet], window: 24h, sum: "5000 ETH", onExceed: { approve: { quorum: 2, from: [ops] } } }
  - { name: destination-hourly, per: [wallet, destination], window: 1h, count: 20, onExceed: block }
  - { name: initiator-daily, per: [initiator], window: 24h, sum: "100000 ETH", onExceed: block }
`;
  // The 3 limits as CEL over pre-computed usage (cel-js has no ledger access).
  cel.push({ name: 'limit-wallet-daily', expr: 'wallet_daily_used + amount > 5000000000000000000000.0' });
  cel.push({ name: 'limit-destination-hourly', expr: 'destination_hourly_used + 1 > 20' });
  cel.push({
    name: 'limit-initiator-daily',
    expr: 'initiator_daily_used + amount > 100000000000000000000000.0',
  });
  return { yaml, cel };
}

const NOW_MS = Date.parse('2026-03-04T10:00:00Z');

/**
 * measureSync plus operations per CPU-second of this process (user + system, GC threads
 * included): on the shared, oversubscribed bench machine the wall-clock rate measures the
 * scheduler; CPU time is what one core actually spends per operation.
 */
function measureWithCpu(fn: () => unknown, opts: { ms: number; batch: number; latencyBatch?: number }) {
  // Latency: one operation per sample by default (the timer's own cost is in these numbers).
  const lat = measureSync(fn, { ms: opts.ms / 2, batch: opts.latencyBatch ?? 1 });
  // Throughput: batches, so the per-sample timer calls do not count as evaluation time.
  const cpu0 = process.cpuUsage();
  const m = measureSync(fn, { ms: opts.ms / 2, batch: opts.batch });
  const cpu = process.cpuUsage(cpu0);
  const warmup = opts.batch * 5;
  return {
    opsPerSec: m.opsPerSec,
    p50Us: lat.p50Us,
    p99Us: lat.p99Us,
    opsPerCpuSec: Math.round((m.iterations + warmup) / ((cpu.user + cpu.system) / 1e6)),
  };
}

function workload() {
  const r = rng(42);
  const dests = Array.from({ length: 50 }, (_, i) => addr(i));
  const book: AddressBookEntry[] = dests.map((a, i) => ({
    chain: CHAIN,
    address: a,
    label: `dest ${i}`,
    category: i % 2 ? 'exchange' : 'customer',
    status: 'active',
    addedAt: '2025-01-01T00:00:00Z',
    activeFrom: '2025-01-02T00:00:00Z',
  }));
  const ledger: LedgerEntry[] = [];
  for (let i = 0; i < 100_000; i++) {
    ledger.push({
      intentId: `l${i}`,
      wallet: `hot-${Math.floor(r() * WALLETS)}`,
      chain: CHAIN,
      asset: ETH,
      destination: dests[Math.floor(r() * dests.length)]!,
      amount: (BigInt(Math.floor(10 ** (r() * 5))) * 10n ** 15n).toString(), // 0.001–100 ETH, log-uniform
      requestedBy: `svc-${Math.floor(r() * 10)}`,
      at: new Date(NOW_MS - Math.floor(r() * 30 * 86_400_000)).toISOString(),
    });
  }
  const intents: Intent[] = [];
  for (let i = 0; i < 1024; i++) {
    intents.push({
      version: 1,
      id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      chain: CHAIN,
      asset: ETH,
      wallet: `hot-${Math.floor(r() * WALLETS)}`,
      // 1 in 64 goes to a stranger (blocked, look-alike scan over the book)
      destination: i % 64 === 0 ? addr(10_000 + i) : dests[Math.floor(r() * dests.length)]!,
      amount: (BigInt(Math.floor(10 ** (r() * 6))) * 10n ** 15n).toString(), // 0.001–1000 ETH
      reference: 'bench',
      requestedBy: `svc-${Math.floor(r() * 10)}`,
      createdAt: '2026-03-04T09:59:00Z',
      expiresAt: '2026-03-04T11:00:00Z',
    });
  }
  return { book, ledger, intents };
}

const suite: BenchSuite = {
  name: 'policy',
  async run(ctx) {
    const ms = ctx.quick ? 300 : 2000;
    const { yaml, cel } = buildPolicies();
    const policy = loadPolicy(yaml, 'bench.yaml');
    const { book, ledger, intents } = workload();
    const t0 = process.hrtime.bigint();
    const index = new LedgerIndex(ledger);
    const bookIndex = new AddressBookIndex(book);
    const base: EvalContext = {
      now: '2026-03-04T10:00:00Z',
      requester: { id: 'svc-1', roles: ['backoffice'] },
      addressBook: bookIndex,
      ledger: index,
      screening: 'clear',
      assets: {},
    };
    // Warm the three groupings so index construction is not inside the timed loop.
    evaluate(policy, intents[0]!, base);
    const indexMs = Number(process.hrtime.bigint() - t0) / 1e6;

    const decisions: Record<string, number> = { allow: 0, approve: 0, block: 0 };
    for (const it of intents) decisions[evaluate(policy, it, base)!.decision]!++;

    let k = 0;
    const native = measureWithCpu(
      () => {
        const it = intents[k++ & 1023]!;
        return evaluate(policy, it, base);
      },
      { ms, batch: 100 },
    );

    // CEL: same rules, first match wins, then the 3 limits — facts and usage computed as for ours.
    const compiled = cel.map((c) => {
      const p = celParse(c.expr);
      if (!p.isSuccess) throw new Error(`CEL parse failed for ${c.name}: ${p.errors.join('; ')}`);
      return { name: c.name, cst: p.cst };
    });
    const ruleCount = compiled.length - 3;
    let j = 0;
    const celRun = () => {
      const it = intents[j++ & 1023]!;
      const known = bookIndex.known(it.chain, it.destination, NOW_MS, 86_400_000);
      const probe = { ...it };
      const since = NOW_MS - 86_400_000 + 1;
      const vars = {
        wallet: it.wallet,
        asset: 'ETH',
        amount: Number(it.amount),
        roles: base.requester.roles,
        category: known?.category ?? '',
        known: known !== undefined,
        lookalike: false,
        screening: 'clear',
        wallet_daily_used: Number(index.usage(['wallet', 'asset'], probe, since).sum),
        destination_hourly_used: index.usage(['wallet', 'destination'], probe, NOW_MS - 3_600_000 + 1).count,
        initiator_daily_used: Number(index.usage(['initiator', 'asset'], probe, since).sum),
      };
      let matched = '';
      for (let r = 0; r < ruleCount; r++) {
        if (celEvaluate(compiled[r]!.cst, vars) === true) {
          matched = compiled[r]!.name;
          break;
        }
      }
      for (let r = ruleCount; r < compiled.length; r++) celEvaluate(compiled[r]!.cst, vars);
      return matched;
    };
    const celM = measureWithCpu(celRun, { ms: Math.min(ms, 1500), batch: 5 });

    // Screening: 100 000 listed addresses, lookups in mixed case, half of them listed.
    const listed = Array.from({ length: 100_000 }, (_, i) =>
      (BigInt(i + 7) * 0xc2b2ae3d27d4eb4f165667b19e3779f9n).toString(16).padStart(40, '0').slice(-40),
    );
    const set = buildListSet([{ name: 'bench', text: listed.map((h) => `0x${h}`).join('\n') }]);
    const probes = Array.from({ length: 4096 }, (_, i) =>
      i % 2
        ? `0x${listed[(i * 7919) % listed.length]!.toUpperCase()}`
        : `0x${(BigInt(i) * 31337n + 5n).toString(16).padStart(40, 'a')}`,
    );
    let q = 0;
    let hits = 0;
    const screen = measureWithCpu(
      () => {
        if (set.match(probes[q++ & 4095]!).length > 0) hits++;
      },
      { ms, batch: 1000, latencyBatch: 100 },
    );

    const measurements: Measurement[] = [
      {
        name: 'evaluate: 100 rules + 3 rolling limits, ledger 100k',
        opsPerSec: native.opsPerSec,
        p50Us: native.p50Us,
        p99Us: native.p99Us,
        extra: {
          ledgerIndexBuildMs: Math.round(indexMs),
          ...decisions,
          opsPerCpuSec: native.opsPerCpuSec,
        },
        target: '≥ 100,000/s on one core (per CPU-second) and p99 < 100 µs',
        met: native.opsPerCpuSec >= 100_000 && native.p99Us < 100,
      },
      {
        name: 'same rules as CEL (cel-js 0.8.2)',
        opsPerSec: celM.opsPerSec,
        p50Us: celM.p50Us,
        p99Us: celM.p99Us,
        extra: { opsPerCpuSec: celM.opsPerCpuSec },
      },
      {
        name: 'screening lookup, 100k listed addresses',
        opsPerSec: screen.opsPerSec,
        p50Us: screen.p50Us,
        p99Us: screen.p99Us,
        extra: { listed: set.size, hits: hits > 0, opsPerCpuSec: screen.opsPerCpuSec },
        target: '≥ 1,000,000/s on one core (per CPU-second)',
        met: screen.opsPerCpuSec >= 1_000_000,
      },
    ];
    // Both sides run in the same process and the same minute; per CPU-second is the fairer ratio.
    const ratio = native.opsPerCpuSec / celM.opsPerCpuSec;
    return {
      suite: 'policy',
      measurements,
      ratios: {
        'policy/CEL (evaluations per CPU-second)': ratio,
        'policy/CEL (wall clock)': native.opsPerSec / celM.opsPerSec,
      },
      notes: [`native vs CEL target ≥ 3×: ${ratio >= 3 ? 'met' : 'NOT met'}`],
    };
  },
};

export default suite;
