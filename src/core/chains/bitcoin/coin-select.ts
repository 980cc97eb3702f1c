import { CustosError } from '../../errors/base.ts';

/**
 * Coin selection (pure). First branch-and-bound (Murch's algorithm, as in Bitcoin Core): look for a
 * set of UTXOs whose effective value lands in [target, target + cost of change], so no change
 * output is needed at all; the set with the least excess wins. Fallback: largest-first until the
 * target plus a change output is covered; change below the dust limit is dropped into the fee
 * rather than created (an uneconomic output nobody would ever spend).
 * Values are satoshis (bigint); fees are rounded up.
 */
export interface Candidate {
  id: string;
  value: bigint;
}

export interface SelectionParams {
  /** Amount the payment outputs need. */
  target: bigint;
  feeRate: number;
  /** vbytes of the transaction without inputs and without change. */
  baseVbytes: number;
  /** vbytes one input adds. */
  inputVbytes: number;
  /** vbytes a change output adds. */
  changeVbytes: number;
  /** vbytes of later spending the change (for the cost of change). */
  changeSpendVbytes: number;
  dustLimit: bigint;
  /** Branch-and-bound search budget (Bitcoin Core uses 100,000). */
  maxTries?: number;
}

export interface Selection<T extends Candidate> {
  selected: T[];
  fee: bigint;
  change: bigint;
  algorithm: 'bnb' | 'largest-first';
}

const fee = (vbytes: number, rate: number) => BigInt(Math.ceil(vbytes * rate));

export function selectCoins<T extends Candidate>(utxos: readonly T[], p: SelectionParams): Selection<T> {
  const inputFee = fee(p.inputVbytes, p.feeRate);
  const baseFee = fee(p.baseVbytes, p.feeRate);
  const changeFee = fee(p.changeVbytes, p.feeRate);
  const costOfChange = changeFee + fee(p.changeSpendVbytes, p.feeRate);
  // Effective value: what an input contributes after paying for its own bytes. Inputs worth less
  // than their cost are never selected.
  const pool = utxos
    .map((u) => ({ u, eff: u.value - inputFee }))
    .filter((x) => x.eff > 0n)
    .sort((a, b) => (b.eff > a.eff ? 1 : b.eff < a.eff ? -1 : a.u.id < b.u.id ? -1 : 1));
  const target = p.target + baseFee;

  const bnb = branchAndBound(
    pool.map((x) => x.eff),
    target,
    costOfChange,
    p.maxTries ?? 100_000,
  );
  if (bnb) {
    const selected = bnb.map((i) => pool[i]!.u);
    const total = selected.reduce((s, u) => s + u.value, 0n);
    return { selected, fee: total - p.target, change: 0n, algorithm: 'bnb' };
  }

  const selected: T[] = [];
  let eff = 0n;
  for (const x of pool) {
    selected.push(x.u);
    eff += x.eff;
    if (eff >= target + changeFee) break;
  }
  if (eff < target)
    throw new CustosError('INSUFFICIENT_FUNDS', 'wallet UTXOs do not cover amount plus fee', {
      details: { target: target.toString(), available: eff.toString() },
    });
  const total = selected.reduce((s, u) => s + u.value, 0n);
  const feeNoChange = baseFee + inputFee * BigInt(selected.length);
  const change = total - p.target - feeNoChange - changeFee;
  if (change >= p.dustLimit)
    return { selected, fee: feeNoChange + changeFee, change, algorithm: 'largest-first' };
  return { selected, fee: total - p.target, change: 0n, algorithm: 'largest-first' };
}

/** Depth-first search over include/exclude, values sorted descending; returns indexes or undefined. */
function branchAndBound(
  values: bigint[],
  target: bigint,
  costOfChange: bigint,
  maxTries: number,
): number[] | undefined {
  const n = values.length;
  const suffix: bigint[] = new Array(n + 1).fill(0n);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + values[i]!;
  if (suffix[0]! < target) return undefined;
  let best: number[] | undefined;
  let bestWaste: bigint | undefined;
  const chosen: number[] = [];
  let tries = 0;
  const upper = target + costOfChange;
  const walk = (i: number, sum: bigint): void => {
    if (++tries > maxTries) return;
    if (sum > upper) return; // overshoot: would need change, prune
    if (sum >= target) {
      const waste = sum - target;
      if (bestWaste === undefined || waste < bestWaste) {
        bestWaste = waste;
        best = [...chosen];
      }
      return;
    }
    if (i >= n || sum + suffix[i]! < target) return; // cannot reach target any more
    chosen.push(i);
    walk(i + 1, sum + values[i]!);
    chosen.pop();
    // Skip equal values after an exclusion: the same subset would be explored again.
    let j = i + 1;
    while (j < n && values[j] === values[i]) j++;
    walk(j, sum);
  };
  walk(0, 0n);
  return best;
}
