import { hashTypedData } from 'viem';
import { describe, expect, it } from 'vitest';
import {
  computeSafeTxHashes,
  parseSafeVersion,
  safeDomainSeparator,
  safeDomainSeparatorUncached,
  safeTxHashBytes,
} from '../../../../src/core/chains/evm/safe-hash.ts';
import { safeTypedData, safeTypedDataHash } from '../../../../src/core/chains/evm/typed-data.ts';
import type { Address, SafeTxFields } from '../../../../src/core/chains/evm/types.ts';

/**
 * The memoized domain separator (per domain form, chain id and Safe address) and the shared
 * SafeTx field lists must never change a hash: every (version, chain, Safe) combination, asked
 * in an interleaved order so a memo keyed on less than all three would answer from the wrong
 * entry, is compared with the uncached computation and with viem's hashTypedData.
 */
const SAFES: Address[] = [
  '0x52908400098527886E0F7030069857D2E4169EE7',
  '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
  '0xde709f2102306220921060314715629080e2fb77',
];
const CHAINS = [1n, 10n, 137n, 31337n, 2n ** 53n - 1n];
const VERSIONS = ['0.1.0', '1.1.1', '1.3.0', '1.4.1+L2', '1.5.0'].map((v) => parseSafeVersion(v));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Alternately no data (a plain ETH transfer) and some. */
const tx = (nonce: bigint): SafeTxFields => ({
  to: '0x00000000000000000000000000000000000c0de5',
  value: 10n ** 18n + nonce,
  data: nonce % 2n === 0n ? '0x' : '0xa9059cbb',
  operation: 0,
  safeTxGas: 0n,
  baseGas: 0n,
  gasPrice: 0n,
  gasToken: '0x0000000000000000000000000000000000000000',
  refundReceiver: '0x0000000000000000000000000000000000000000',
  nonce,
});

describe('Safe domain separator memo', () => {
  it('equals the uncached separator for every version × chain × Safe, asked interleaved twice', () => {
    const seen = new Map<string, string>();
    for (let pass = 0; pass < 2; pass++)
      for (const chainId of pass === 0 ? CHAINS : [...CHAINS].reverse())
        for (const safe of SAFES)
          for (const v of VERSIONS) {
            const got = hex(safeDomainSeparator(v, chainId, safe));
            expect(got).toBe(hex(safeDomainSeparatorUncached(v, chainId, safe)));
            seen.set(`${v.text}|${chainId}|${safe}`, got);
          }
    // The same Safe on two chains (1.3.0+) has two separators: a memo keyed on the address alone fails here.
    const v130 = VERSIONS[2]!;
    expect(hex(safeDomainSeparator(v130, 1n, SAFES[0]!))).not.toBe(
      hex(safeDomainSeparator(v130, 10n, SAFES[0]!)),
    );
    // Before 1.3.0 the domain has no chain id: one separator per Safe whatever the chain.
    const legacy = VERSIONS[0]!;
    expect(new Set(CHAINS.map((c) => seen.get(`${legacy.text}|${c}|${SAFES[1]}`))).size).toBe(1);
    // Modern and legacy domains of one Safe differ (a memo keyed on chain and address only fails here).
    expect(seen.get(`1.3.0|1|${SAFES[1]}`)).not.toBe(seen.get(`0.1.0|1|${SAFES[1]}`));
    // Address case does not matter (same bytes), different Safes do.
    expect(hex(safeDomainSeparator(v130, 1n, SAFES[0]!.toLowerCase() as Address))).toBe(
      seen.get(`1.3.0|1|${SAFES[0]}`),
    );
    expect(seen.get(`1.3.0|1|${SAFES[0]}`)).not.toBe(seen.get(`1.3.0|1|${SAFES[1]}`));
  });

  it('hands out copies: mutating a returned separator or hash result changes nothing later', () => {
    const v = VERSIONS[3]!;
    const a = safeDomainSeparator(v, 1n, SAFES[2]!);
    const expected = hex(a);
    a.fill(0);
    safeTxHashBytes(v, 1n, SAFES[2]!, tx(1n)).domain.fill(0);
    expect(hex(safeDomainSeparator(v, 1n, SAFES[2]!))).toBe(expected);
    expect(hex(safeTxHashBytes(v, 1n, SAFES[2]!, tx(1n)).domain)).toBe(expected);
  });

  it('invalid input still throws every time (never remembered)', () => {
    const v = VERSIONS[2]!;
    for (let i = 0; i < 2; i++) {
      expect(() => safeDomainSeparator(v, undefined, SAFES[0]!)).toThrow(/chain id/);
      expect(() => safeDomainSeparator(v, -1n, SAFES[0]!)).toThrow();
      expect(() => safeDomainSeparator(v, 1n, '0x1234' as Address)).toThrow();
    }
  });

  it('safeTxHash equals viem hashTypedData over the typed data, for every combination', () => {
    for (const safe of SAFES)
      for (const chainId of CHAINS)
        for (const v of VERSIONS) {
          const h = computeSafeTxHashes(v, chainId, safe, tx(chainId % 7n));
          const td = safeTypedData(v, chainId, safe, tx(chainId % 7n));
          expect(safeTypedDataHash(td)).toBe(h.safeTxHash);
          const { safeVersion: _, ...eip712 } = td;
          expect(hashTypedData(eip712 as never)).toBe(h.safeTxHash);
          expect(Object.isFrozen(td.types.SafeTx) && Object.isFrozen(td.types.SafeTx[0])).toBe(true);
          expect(td.types.SafeTx.map((f) => f.name)[5]).toBe(v.major === 0 ? 'dataGas' : 'baseGas');
        }
  });
});
