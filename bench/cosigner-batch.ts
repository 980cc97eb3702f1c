import type { SignRequest } from '../src/core/auth/index.ts';
import { item, nonceFollowsTx, postSignBatch } from '../test/cosigner/batch-fixture.ts';
import type { Harness } from '../test/cosigner/fixture.ts';
import type { Measurement } from './report.ts';

/**
 * `/v1/sign` one intent per request vs `/v1/sign-batch` with `size` intents per request, same
 * co-signer, same database, same run (Fastify inject, no network). Requests are built (requester
 * and approver signatures) before the clock starts: only the co-signer's work is timed. CPU is this
 * process's user+system time (the co-signer and, for PGlite, the database; a PostgreSQL server's
 * own CPU is not included). Every intent must sign, or the bench fails.
 */
export async function batchVsSingle(
  label: string,
  h: Harness,
  opts: { rounds: number; size: number },
): Promise<{ measurements: Measurement[]; ratios: Record<string, number> }> {
  h.deps.checks = nonceFollowsTx(h.address);
  let next = 1_000_000;
  const round = () => Array.from({ length: opts.size }, () => item(next++, { amount: 1000n }));
  const time = async (fn: (items: SignRequest[]) => Promise<void>) => {
    // Warm-up round (JIT, ledger cache, prepared statements), not counted.
    await fn(round());
    let wallMs = 0;
    let cpuUs = 0;
    for (let r = 0; r < opts.rounds; r++) {
      const items = round();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await fn(items);
      wallMs += performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      cpuUs += cpu.user + cpu.system;
    }
    const n = opts.rounds * opts.size;
    return { wallUsPerIntent: (wallMs * 1000) / n, cpuUsPerIntent: cpuUs / n };
  };
  const single = await time(async (items) => {
    for (const body of items) {
      const res = await h.send(body);
      if (res.status !== 200) throw new Error(`sign refused: ${JSON.stringify(res.json)}`);
    }
  });
  const batch = await time(async (items) => {
    const res = await postSignBatch(h, items);
    const json = res.json() as { results?: { ok: boolean }[] };
    if (res.statusCode !== 200 || !json.results?.every((x) => x.ok))
      throw new Error(`sign-batch refused: ${res.body.slice(0, 300)}`);
  });
  const row = (name: string, m: typeof single): Measurement => ({
    name,
    opsPerSec: 1e6 / m.wallUsPerIntent,
    extra: {
      wallUsPerIntent: Math.round(m.wallUsPerIntent),
      cpuUsPerIntent: Math.round(m.cpuUsPerIntent),
      intentsPerCpuSecond: Math.round(1e6 / m.cpuUsPerIntent),
      intents: opts.rounds * opts.size,
    },
  });
  return {
    measurements: [
      row(`${label}: /v1/sign one by one`, single),
      row(`${label}: /v1/sign-batch, ${opts.size} per request`, batch),
    ],
    ratios: {
      [`${label}: batch/single wall speed-up`]: Number(
        (single.wallUsPerIntent / batch.wallUsPerIntent).toFixed(2),
      ),
      [`${label}: batch/single CPU speed-up`]: Number(
        (single.cpuUsPerIntent / batch.cpuUsPerIntent).toFixed(2),
      ),
    },
  };
}
