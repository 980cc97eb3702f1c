import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeSafeTxHashes, parseSafeVersion } from '../../src/core/chains/evm/safe-hash.ts';
import type { Address, Hex, SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { verifySafeTransaction } from '../../src/core/chains/evm/verify-safe.ts';
import {
  assets,
  CHAIN,
  DEST,
  erc20Transfer,
  intent,
  SAFE,
  safeTx,
  state,
  TOKEN,
  wallet,
} from './fixtures.ts';

/**
 * Invariant I2 (binding) and I3 (default deny) as properties: starting from a transaction the
 * co-signer accepts, ANY change to any SafeTx field is refused, and changes the safeTxHash (so an
 * approval/signature for the original can never authorise the changed one).
 */
const erc20Intent = intent({ asset: `${CHAIN}/erc20:${TOKEN}`, amount: '500' });
const good = safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 500n) });
const addr = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => `0x${Buffer.from(b).toString('hex')}` as Address);
const u256 = fc.bigInt({ min: 0n, max: (1n << 256n) - 1n });

type Mutation = { field: keyof SafeTxFields; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  addr.map((value) => ({ field: 'to' as const, value })),
  u256.map((value) => ({ field: 'value' as const, value })),
  fc.tuple(fc.nat({ max: 67 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const bytes = Buffer.from(good.data.slice(2), 'hex');
    bytes[i] = bytes[i]! ^ x;
    return { field: 'data' as const, value: `0x${bytes.toString('hex')}` as Hex };
  }),
  fc
    .uint8Array({ maxLength: 80 })
    .map((b) => ({ field: 'data' as const, value: `0x${Buffer.from(b).toString('hex')}` as Hex })),
  fc.constant({ field: 'operation' as const, value: 1 }),
  u256.map((value) => ({ field: 'safeTxGas' as const, value })),
  u256.map((value) => ({ field: 'baseGas' as const, value })),
  u256.map((value) => ({ field: 'gasPrice' as const, value })),
  addr.map((value) => ({ field: 'gasToken' as const, value })),
  addr.map((value) => ({ field: 'refundReceiver' as const, value })),
  u256.map((value) => ({ field: 'nonce' as const, value })),
);

describe('Safe verification properties', () => {
  it('the unmodified transaction is accepted', () => {
    expect(verifySafeTransaction(erc20Intent, good, wallet, state, assets).ok).toBe(true);
  });

  it('any changed field is refused and changes the safeTxHash', () => {
    const v = parseSafeVersion('1.4.1');
    const original = computeSafeTxHashes(v, 31337n, SAFE, good).safeTxHash;
    fc.assert(
      fc.property(mutation, (m) => {
        const tx = { ...good, [m.field]: m.value } as SafeTxFields;
        const same = String(tx[m.field]).toLowerCase() === String(good[m.field]).toLowerCase();
        fc.pre(!same);
        expect(verifySafeTransaction(erc20Intent, tx, wallet, state, assets).ok).toBe(false);
        expect(computeSafeTxHashes(v, 31337n, SAFE, tx).safeTxHash).not.toBe(original);
      }),
      { numRuns: 500 },
    );
  });

  it('the same fields on another chain, Safe or version hash differently (no cross-domain replay)', () => {
    const h = (ver: string, chain: bigint, safe: Address) =>
      computeSafeTxHashes(parseSafeVersion(ver), chain, safe, good).safeTxHash;
    const base = h('1.4.1', 31337n, SAFE);
    expect(h('1.4.1', 1n, SAFE)).not.toBe(base);
    expect(h('1.4.1', 31337n, DEST)).not.toBe(base);
    expect(h('1.2.0', 31337n, SAFE)).not.toBe(base);
    // 1.3.0, 1.4.1 and 1.5.0 (and their L2 variants) share one encoding.
    expect(h('1.3.0+L2', 31337n, SAFE)).toBe(base);
  });
});
