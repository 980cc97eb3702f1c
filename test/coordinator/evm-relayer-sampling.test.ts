import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { type Hex, keccak256, parseTransaction, recoverTransactionAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { RelayerNonces, signCarrier } from '../../src/coordinator/chains/evm-relayer.ts';
import { Sampled } from '../../src/coordinator/sampled.ts';

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

describe('relayer carrier signature', () => {
  it('is byte-identical to viem signTransaction (RFC 6979, low S) and recovers to the relayer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 32 }),
        fc.bigInt({ min: 21_000n, max: 10_000_000n }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        async (nonce, gas, tip, bytes) => {
          const key = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}` as Hex;
          const tx = {
            chainId: 31337,
            nonce,
            to: '0x00000000000000000000000000000000000000a1' as Hex,
            data: `0x6a761202${bytesToHex(bytes)}` as Hex,
            gas,
            maxFeePerGas: tip * 2n + 7n,
            maxPriorityFeePerGas: tip,
          };
          const ours = signCarrier(tx, key);
          const viem = await privateKeyToAccount(key).signTransaction({ ...tx, type: 'eip1559' });
          expect(ours.raw).toBe(viem);
          expect(ours.txHash).toBe(keccak256(viem));
          const from = await recoverTransactionAddress({ serializedTransaction: ours.raw as never });
          expect(from).toBe(privateKeyToAccount(key).address);
          expect(parseTransaction(ours.raw).nonce).toBe(nonce);
        },
      ),
      { numRuns: 40 },
    );
  });
});
