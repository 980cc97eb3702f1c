import { describe, expect, it } from 'vitest';
import { RelayerNonces, Sampled } from '../../src/coordinator/chains/evm-relayer.ts';

describe('relayer pending count sampled from the node', () => {
  it('wouldFillGap says in advance when next() would hand out a nonce below ones given', () => {
    const n = new RelayerNonces(15_000);
    expect(n.next(3, 0)).toBe(3);
    expect(n.next(3, 1_000)).toBe(4);
    expect(n.wouldFillGap(3, 14_999)).toBe(false);
    expect(n.wouldFillGap(3, 15_000)).toBe(true);
    // a count that moved is not a gap: the carriers are arriving
    expect(n.wouldFillGap(4, 15_000)).toBe(false);
    // asking does not change what next() does
    expect(n.next(3, 15_000)).toBe(3);
    expect(n.next(3, 15_001)).toBe(5);
  });

  it('reads at most once per ttl, shares one read among concurrent callers, re-reads on demand', async () => {
    let reads = 0;
    let release: (v: number) => void = () => undefined;
    const s = new Sampled(
      () =>
        new Promise<number>((r) => {
          reads++;
          release = r;
        }),
      1_000,
    );
    const a = s.get(0);
    const b = s.get(0);
    release(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(reads).toBe(1);
    expect(await s.get(999)).toBe(7);
    expect(reads).toBe(1);
    const c = s.get(1_000);
    release(8);
    expect(await c).toBe(8);
    const d = s.get(1_001, true);
    release(9);
    expect(await d).toBe(9);
    expect(reads).toBe(3);
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    const s = new Sampled(async () => {
      if (fail) throw new Error('node down');
      return 5;
    }, 1_000);
    await expect(s.get(0)).rejects.toThrow('node down');
    fail = false;
    expect(await s.get(1)).toBe(5);
  });
});
