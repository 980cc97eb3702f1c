import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Block } from 'bitcoinjs-lib';
import { blockMerkleRootMatches } from '../src/core/chains/bitcoin/block/merkle.ts';
import { inputOutpoint, type ParsedBlock, parseBlock } from '../src/core/chains/bitcoin/block/parse.ts';
import { scanBlock, type WatchEntry, WatchIndex } from '../src/core/chains/bitcoin/block/watch.ts';
import { VECTORS } from '../test/bitcoin/fixtures.ts';
import type { BenchContext, Measurement } from './report.ts';

/**
 * Watchtower block scan, part of the `bitcoin` suite (bench/suites/bitcoin.ts): the 2,500-tx
 * mainnet block 702861 (1.38 MB) against 100,000 watched scripts and 100 custody UTXOs, side by
 * side with bitcoinjs-lib's `Block.fromBuffer` of the same bytes (parse only: no txids, no merkle
 * root, no matching).
 *
 * Fairness on a shared machine: one block, one process, 20 warm-up rounds; then every round runs
 * the three contenders back to back in a rotating order (so none always runs right after another's
 * garbage), and p50/p99 are taken over the same rounds. Restoring the custody UTXOs the scan
 * consumed happens outside the timed region. The scan's result is checked every round, so a
 * broken fast path cannot pass as a fast one.
 */
const BLOCK = 'mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw';

/**
 * 100,000 watched scripts: 99,900 random P2WSH programs plus 100 scripts the block really pays
 * (built in a helper so the 100,000 arrays are garbage before timing starts; only the index lives).
 */
function watchedScripts(raw: Uint8Array, blk: ParsedBlock): WatchEntry[] {
  const entries: WatchEntry[] = [];
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed & 0xff;
  };
  for (let i = 0; i < 99_900; i++)
    entries.push({
      wallet: `w${i % 7}`,
      script: Uint8Array.from([0x00, 0x20, ...Array.from({ length: 32 }, rnd)]),
    });
  for (let o = 0; o < 100; o++) {
    const k = o * 50;
    const off = blk.outScript[k]!;
    entries.push({ wallet: 'real', script: raw.slice(off, off + blk.outScriptLen[k]!) });
  }
  return entries;
}

export async function benchBlockScan(
  ctx: BenchContext,
): Promise<{ measurements: Measurement[]; ratios: Record<string, number> }> {
  const raw = new Uint8Array(readFileSync(`${VECTORS}blocks/${BLOCK}`));
  const first = parseBlock(raw);
  const utxoList = Array.from({ length: 100 }, (_, i) => ({
    ...inputOutpoint(first, 2600 + i * 30),
    wallet: 'real',
    value: 1,
  }));
  const index = new WatchIndex(watchedScripts(raw, first), utxoList);
  const restore = () => {
    for (const u of utxoList) index.addUtxo(u); // the scan consumed them
  };
  const expect = scanBlock(parseBlock(raw), index);
  restore();
  const expected = `${expect.outflows.length}/${expect.created.length}`;
  const check = (s: ReturnType<typeof scanBlock>) => {
    if (`${s.outflows.length}/${s.created.length}` !== expected) throw new Error('scan result changed');
  };

  const contenders: [string, () => void][] = [
    // What the issue measures: decode + match (txids only for the matched transactions).
    ['scan', () => check(scanBlock(parseBlock(raw), index))],
    // What the watchtower runs per block: decode, header hash, every txid + merkle root, match.
    [
      'full',
      () => {
        const blk = parseBlock(raw);
        if (blk.header.hash !== '000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae')
          throw new Error('header hash');
        if (!blockMerkleRootMatches(blk)) throw new Error('merkle root');
        check(scanBlock(blk, index));
      },
    ],
    ['peer', () => Block.fromBuffer(raw)],
  ];
  const times: Record<string, number[]> = { scan: [], full: [], peer: [] };
  const warmup = ctx.quick ? 5 : 20;
  const rounds = ctx.quick ? 30 : 200;
  for (let r = 0; r < warmup + rounds; r++)
    for (let k = 0; k < 3; k++) {
      const [name, fn] = contenders[(r + k) % 3]!;
      const t0 = performance.now();
      fn();
      const dt = performance.now() - t0;
      restore();
      if (r >= warmup) times[name]!.push(dt);
    }
  const pct = (xs: number[], p: number) =>
    xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
  const stat = (name: string) => {
    const p50 = pct(times[name]!, 0.5);
    const min = pct(times[name]!, 0);
    return { opsPerSec: 1000 / p50, p50Us: p50 * 1000, p99Us: pct(times[name]!, 0.99) * 1000, p50, min };
  };
  const scan = stat('scan');
  const full = stat('full');
  const peer = stat('peer');
  const load = Number(loadavg()[0]!.toFixed(1));
  const row = (s: typeof scan) => ({ opsPerSec: s.opsPerSec, p50Us: s.p50Us, p99Us: s.p99Us });
  return {
    measurements: [
      {
        name: 'block 702861 decode + match 100k scripts',
        ...row(scan),
        extra: {
          msPerBlock: Number(scan.p50.toFixed(2)),
          minMs: Number(scan.min.toFixed(2)),
          txs: first.txCount,
          matches: expected,
          rounds,
        },
        target: '≤ 50 ms',
        met: scan.p50 <= 50,
      },
      {
        name: 'block 702861 watchtower path: decode + header hash + all txids + merkle root + match',
        ...row(full),
        extra: { msPerBlock: Number(full.p50.toFixed(2)), minMs: Number(full.min.toFixed(2)) },
        target: '≤ 50 ms',
        met: full.p50 <= 50,
      },
      {
        name: 'bitcoinjs-lib Block.fromBuffer (same block, parse only)',
        ...row(peer),
        extra: {
          msPerBlock: Number(peer.p50.toFixed(2)),
          minMs: Number(peer.min.toFixed(2)),
          loadAverage1m: load,
        },
      },
    ],
    ratios: {
      'block decode+match vs bitcoinjs-lib parse (p50 speed-up, target ≥ 2)': peer.p50 / scan.p50,
      'block decode+merkle+match vs bitcoinjs-lib parse (p50 speed-up)': peer.p50 / full.p50,
      // Fastest round of each: the CPU cost with the least interference from other processes and
      // from the garbage collector (bitcoinjs-lib's p50 in particular moves with heap state).
      'block decode+match vs bitcoinjs-lib parse (min speed-up)': peer.min / scan.min,
      'block decode+merkle+match vs bitcoinjs-lib parse (min speed-up)': peer.min / full.min,
    },
  };
}
