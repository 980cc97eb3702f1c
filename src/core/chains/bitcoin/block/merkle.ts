import type { ParsedBlock } from './parse.ts';
import { sha256d64 } from './sha256d.ts';
import { blockTxids } from './txid.ts';

/**
 * Merkle root over the block's txids (Bitcoin's construction: pairwise double SHA-256, the last
 * hash duplicated on odd levels). The header hash is checked against the hash the node named; this
 * check binds the transactions to that header, so a lying node cannot hide an outflow by serving
 * the right header with different transactions.
 *
 * `mutated` follows Bitcoin Core's ComputeMerkleRoot (CVE-2012-2459): two equal sibling hashes
 * mean the transaction list can be altered (a duplicated tail) without changing the root, so such a
 * block is refused rather than scanned.
 */
function rootOf(leaves: Uint8Array, count: number): { root: Uint8Array; mutated: boolean } {
  if (count === 0) throw new RangeError('no transactions');
  const level = leaves.slice(0, count * 32);
  let n = count;
  let mutated = false;
  while (n > 1) {
    const m = (n + 1) >> 1;
    for (let k = 0; k < m; k++) {
      const l = 2 * k * 32;
      const r = 2 * k + 1 < n ? l + 32 : l;
      if (r !== l && !mutated) {
        let same = true;
        for (let i = 0; i < 32; i++)
          if (level[l + i] !== level[r + i]) {
            same = false;
            break;
          }
        mutated = same;
      }
      // Node k is written in place: it overwrites the bytes of pair k/2, already consumed.
      sha256d64(level, l, level, r, level, k * 32);
    }
    n = m;
  }
  return { root: level.subarray(0, 32), mutated };
}

function reversedHex(b: Uint8Array): string {
  let s = '';
  for (let i = 31; i >= 0; i--) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Merkle root (display hex) of txids given in display hex. */
export function merkleRoot(txidsDisplayHex: readonly string[]): string {
  const leaves = new Uint8Array(32 * txidsDisplayHex.length);
  txidsDisplayHex.forEach((h, t) => {
    for (let i = 0; i < 32; i++) leaves[t * 32 + i] = Number.parseInt(h.slice(62 - 2 * i, 64 - 2 * i), 16);
  });
  return reversedHex(rootOf(leaves, txidsDisplayHex.length).root);
}

/**
 * True when the block's transactions hash to the header's merkle root and the tree is not
 * mutated. Computes (and keeps on `blk`) every txid, which the scan then reuses.
 */
export function blockMerkleRootMatches(blk: ParsedBlock): boolean {
  const { root, mutated } = rootOf(blockTxids(blk), blk.txCount);
  if (mutated) return false;
  const b = blk.bytes;
  for (let i = 0; i < 32; i++) if (root[i] !== b[36 + i]) return false;
  return true;
}
