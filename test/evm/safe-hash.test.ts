import { readFileSync } from 'node:fs';
import { hashTypedData } from 'viem';
import { describe, expect, it } from 'vitest';
import { computeSafeTxHashes, parseSafeVersion } from '../../src/core/chains/evm/safe-hash.ts';
import { safeTypedData, safeTypedDataHash } from '../../src/core/chains/evm/typed-data.ts';
import type { Address, Hex, SafeTxFields } from '../../src/core/chains/evm/types.ts';

interface Vector {
  id: string;
  chain_id: number | null;
  safe_address: string;
  safe_version: string;
  tx: Record<string, string | number>;
  expected: { domainHash?: string; messageHash?: string; safeTxHash: string; encodedMessage?: string };
}
const file = JSON.parse(
  readFileSync(new URL('../../../shared/vectors/safe/safe_tx_hash_vectors.json', import.meta.url), 'utf8'),
) as { safe_tx_vectors: Vector[] };

/** The vectors say ">=1.3.0" where the source does not print a version; all of 1.3.0+ hash alike. */
const versionOf = (v: string) => (v.startsWith('>=') ? v.slice(2) : v);

function fields(tx: Vector['tx']): SafeTxFields {
  return {
    to: tx.to as Address,
    value: BigInt(tx.value!),
    data: tx.data as Hex,
    operation: Number(tx.operation) as SafeTxFields['operation'],
    safeTxGas: BigInt(tx.safeTxGas!),
    baseGas: BigInt(tx.baseGas!),
    gasPrice: BigInt(tx.gasPrice!),
    gasToken: tx.gasToken as Address,
    refundReceiver: tx.refundReceiver as Address,
    nonce: BigInt(tx.nonce!),
  };
}

describe('SafeTx EIP-712 hash: every vector in safe_tx_hash_vectors.json', () => {
  it('has vectors for legacy (0.1.0, 1.0.0) and modern (1.3.0, +L2) Safes', () => {
    const versions = new Set(file.safe_tx_vectors.map((v) => v.safe_version));
    expect(versions).toContain('0.1.0');
    expect(versions).toContain('1.0.0');
    expect(versions).toContain('1.3.0+L2');
    expect(file.safe_tx_vectors.length).toBeGreaterThanOrEqual(9);
  });

  it.each(file.safe_tx_vectors.map((v) => [v.id, v] as const))('%s', (_id, v) => {
    const version = parseSafeVersion(versionOf(v.safe_version));
    const chainId = v.chain_id === null ? undefined : BigInt(v.chain_id);
    const h = computeSafeTxHashes(version, chainId, v.safe_address as Address, fields(v.tx));
    expect(h.safeTxHash).toBe(v.expected.safeTxHash.toLowerCase());
    if (v.expected.domainHash) expect(h.domainHash).toBe(v.expected.domainHash.toLowerCase());
    if (v.expected.messageHash) expect(h.messageHash).toBe(v.expected.messageHash.toLowerCase());
    if (v.expected.encodedMessage) expect(h.encodedMessage).toBe(v.expected.encodedMessage.toLowerCase());

    // The typed data handed to a signer hashes to the same digest, both by our encoder and by
    // viem's generic EIP-712 implementation (an independent encoder).
    if (v.tx.operation !== 2) {
      const td = safeTypedData(version, chainId, v.safe_address as Address, fields(v.tx));
      expect(safeTypedDataHash(td)).toBe(h.safeTxHash);
      const { safeVersion: _sv, ...eip712 } = td;
      expect(hashTypedData(eip712 as Parameters<typeof hashTypedData>[0])).toBe(h.safeTxHash);
    }
  });

  it('a legacy Safe hashed as 1.3.0 (or the reverse) gives a different hash', () => {
    const v = file.safe_tx_vectors.find((x) => x.safe_version === '1.0.0')!;
    const wrong = computeSafeTxHashes(parseSafeVersion('1.3.0'), 1n, v.safe_address as Address, fields(v.tx));
    expect(wrong.safeTxHash).not.toBe(v.expected.safeTxHash.toLowerCase());
    const v0 = file.safe_tx_vectors.find((x) => x.safe_version === '0.1.0')!;
    const asV1 = computeSafeTxHashes(
      parseSafeVersion('1.0.0'),
      undefined,
      v0.safe_address as Address,
      fields(v0.tx),
    );
    expect(asV1.safeTxHash).not.toBe(v0.expected.safeTxHash.toLowerCase());
  });

  it('refuses unknown or malformed versions instead of guessing', () => {
    expect(() => parseSafeVersion('1.3')).toThrow(/INVALID_SAFE_VERSION/);
    expect(() => parseSafeVersion('9.9.9')).toThrow(/UNSUPPORTED_SAFE_VERSION/);
    expect(() => parseSafeVersion('1.3.0+l2')).toThrow(/INVALID_SAFE_VERSION/);
    expect(parseSafeVersion('1.4.1+L2').l2).toBe(true);
  });
});
