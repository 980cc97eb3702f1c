/**
 * Bench framework: every suite in bench/suites/*.ts exports `name` and `run(ctx)`; `npm run bench`
 * runs them all in one process and writes one JSON report (bench/report.json) plus a table.
 * Peers are measured side by side in the same run and reported as ratios; no test asserts time.
 */
export interface Measurement {
  /** e.g. 'intent digest' */
  name: string;
  /** operations per second */
  opsPerSec?: number;
  p50Us?: number;
  p99Us?: number;
  /** anything else worth reporting (counts, ms per block, bytes) */
  extra?: Record<string, number | string | boolean>;
  /** the target from the issue, as text, and whether this run met it */
  target?: string;
  met?: boolean;
}

export interface SuiteResult {
  suite: string;
  measurements: Measurement[];
  /** name → ratio text, e.g. { 'audit/plain (8 writers, postgres)': 1.7 } */
  ratios?: Record<string, number>;
  notes?: string[];
}

export interface BenchContext {
  databaseUrl?: string;
  /** quick mode for smoke runs: fewer iterations */
  quick: boolean;
}

export interface BenchSuite {
  name: string;
  run(ctx: BenchContext): Promise<SuiteResult>;
}

/** Runs `fn` repeatedly for about `ms` milliseconds and returns ops/s and latency percentiles. */
export async function measure(
  fn: () => unknown | Promise<unknown>,
  opts: { ms?: number; batch?: number; warmup?: number } = {},
): Promise<{ opsPerSec: number; p50Us: number; p99Us: number; iterations: number }> {
  const ms = opts.ms ?? 1000;
  const batch = opts.batch ?? 1;
  for (let i = 0; i < (opts.warmup ?? 50); i++) await fn();
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
    n += batch;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? 0;
  return { opsPerSec: n / elapsed, p50Us: pct(0.5), p99Us: pct(0.99), iterations: n };
}

/** Synchronous variant with less overhead for sub-microsecond operations. */
export function measureSync(fn: () => unknown, opts: { ms?: number; batch?: number } = {}) {
  const ms = opts.ms ?? 1000;
  const batch = opts.batch ?? 100;
  for (let i = 0; i < batch * 5; i++) fn();
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let n = 0;
  while (process.hrtime.bigint() < deadline) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
    n += batch;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? 0;
  return { opsPerSec: n / elapsed, p50Us: pct(0.5), p99Us: pct(0.99), iterations: n };
}
