import { randomBytes } from 'node:crypto';
import { buildSignBatchHttpRequest, type SignRequest } from '../src/core/auth/index.ts';
import { type SafeWallet, safeTxToJson } from '../src/core/chains/evm/index.ts';
import { type SafeTxFields, ZERO_ADDRESS } from '../src/core/chains/evm/types.ts';
import { idOf, item, nonceFollowsTx, postSignBatch } from '../test/cosigner/batch-fixture.ts';
import {
  COORDINATOR_KEY_ID,
  coordinatorKey,
  type Harness,
  intent,
  signRequestFor,
} from '../test/cosigner/fixture.ts';
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

/**
 * `/v1/sign-batch` on the Safe path, `size` items per request, one item per Safe (a Safe has one
 * withdrawal in flight: co-signers sign only its current nonce), as in the e2e bench. `safes` are
 * registered in the co-signer's bundle; `read` is the co-signer's chain reader (a TEST DOUBLE
 * reporting exactly the registered configuration, or the real viem reader against anvil);
 * `advance` moves every Safe's nonce on between rounds (untimed). Returns CPU µs per intent of
 * this process (co-signer + PGlite; an RPC node runs in another process and is not counted).
 */
export async function safeBatch(
  label: string,
  h: Harness,
  safes: readonly SafeWallet[],
  opts: {
    rounds: number;
    destination: `0x${string}`;
    advance(nonce: bigint): Promise<void>;
    /** Send the two treasury approvals (policy requires a quorum); none when the policy allows. */
    approvals: boolean;
    /** Called around each timed request (e.g. to resume and pause a CPU profile). */
    timed?: (phase: 'start' | 'stop') => Promise<void>;
  },
): Promise<Measurement> {
  let next = 2_000_000;
  // Round r spends nonce r (round 0 is the warm-up); all requests are built before the clock starts.
  const round = (nonce: bigint) =>
    safes.map((safe) => {
      const i = intent({
        id: idOf(next++),
        chain: safe.chain,
        asset: `${safe.chain}/slip44:60`,
        wallet: safe.id,
        destination: opts.destination,
        amount: '1000',
      });
      const tx: SafeTxFields = {
        to: opts.destination,
        value: 1000n,
        data: '0x',
        operation: 0,
        safeTxGas: 0n,
        baseGas: 0n,
        gasPrice: 0n,
        gasToken: ZERO_ADDRESS,
        refundReceiver: ZERO_ADDRESS,
        nonce,
      };
      return signRequestFor(i, {
        tx: { kind: 'safe', safe: safe.config.address, safeTx: safeTxToJson(tx) },
        ...(opts.approvals ? {} : { approvals: [] }),
      });
    });
  // Signed HTTP requests, built (coordinator Ed25519 signature, body) before the clock starts.
  const rounds = Array.from({ length: opts.rounds + 1 }, (_, r) =>
    buildSignBatchHttpRequest(
      { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
      'cosigner-a',
      round(BigInt(r)),
      { timestampMs: h.clock.now, nonce: randomBytes(16) },
    ),
  );
  const once = async (r: number) => {
    const http = rounds[r]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await h.app.inject({
      method: 'POST',
      url: http.path,
      headers: http.headers,
      payload: http.body,
    });
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const json = res.json() as { results?: { ok: boolean }[] };
    if (res.statusCode !== 200 || !json.results?.every((x) => x.ok))
      throw new Error(`safe sign-batch refused: ${res.body.slice(0, 300)}`);
    return { wall, cpu: cpu.user + cpu.system };
  };
  await opts.advance(0n);
  await once(0); // warm-up (JIT, ledger cache, prepared statements, eth_chainId)
  let wallMs = 0;
  let cpuUs = 0;
  for (let r = 1; r <= opts.rounds; r++) {
    await opts.advance(BigInt(r));
    await opts.timed?.('start');
    const m = await once(r);
    await opts.timed?.('stop');
    wallMs += m.wall;
    cpuUs += m.cpu;
  }
  const n = opts.rounds * safes.length;
  return {
    name: `${label}: Safe /v1/sign-batch, ${safes.length} Safes per request, ${opts.approvals ? '2 approvals' : 'no approvals'}`,
    opsPerSec: (n * 1000) / wallMs,
    extra: {
      cpuUsPerIntent: Math.round(cpuUs / n),
      intentsPerCpuSecond: Math.round((1e6 * n) / cpuUs),
      wallUsPerIntent: Math.round((wallMs * 1000) / n),
      intents: n,
    },
  };
}
