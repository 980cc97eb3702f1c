import { sha256 } from '@noble/hashes/sha2.js';
import { blockTxid, type ParsedBlock } from './parse.ts';

/**
 * Merkle root over the block's txids (Bitcoin's construction: pairwise double SHA-256, the last
 * hash duplicated on odd levels). The header hash is checked against the hash the node named; this
 * check binds the transactions to that header, so a lying node cannot hide an outflow by serving
 * the right header with different transactions.
 */
export function merkleRoot(txidsDisplayHex: readonly string[]): string {
  let level: Uint8Array[] = txidsDisplayHex.map((h) => {
    const b = new Uint8Array(32);
    for (let i = 0; i < 32; i++) b[i] = Number.parseInt(h.slice(62 - 2 * i, 64 - 2 * i), 16);
    return b;
  });
  if (level.length === 0) throw new RangeError('no transactions');
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const a = level[i]!;
      const b = level[i + 1] ?? a;
      const both = new Uint8Array(64);
      both.set(a);
      both.set(b, 32);
      next.push(sha256(sha256(both)));
    }
    level = next;
  }
  let s = '';
  for (let i = 31; i >= 0; i--) s += level[0]![i]!.toString(16).padStart(2, '0');
  return s;
}

export function blockMerkleRootMatches(blk: ParsedBlock): boolean {
  const ids: string[] = [];
  for (let t = 0; t < blk.txCount; t++) ids.push(blockTxid(blk, t));
  return merkleRoot(ids) === blk.header.merkleRoot;
}
