import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '@scure/base';
import { RawTx } from '@scure/btc-signer';
import { merkleRoot } from '../../src/core/chains/bitcoin/block/merkle.ts';
import { txidOf } from './fixtures.ts';

/**
 * Synthetic regtest-style blocks for watchtower tests (no proof of work; the watchtower checks
 * linkage, header hash and merkle root, not difficulty).
 */
export interface BuiltBlock {
  hash: string;
  raw: Uint8Array;
  txids: string[];
}

export function coinbase(height: number, tag: number): Uint8Array {
  return RawTx.encode({
    version: 2,
    segwitFlag: false,
    inputs: [
      {
        txid: new Uint8Array(32),
        index: 0xffffffff,
        finalScriptSig: new Uint8Array([
          0x03,
          height & 0xff,
          (height >> 8) & 0xff,
          (height >> 16) & 0xff,
          tag,
        ]),
        sequence: 0xffffffff,
      },
    ],
    outputs: [{ amount: 50_0000_0000n, script: new Uint8Array([0x51]) }],
    lockTime: 0,
  });
}

/** A transaction spending `inputs` (display txid:vout) to `outputs`. */
export function spend(
  inputs: { txid: string; vout: number }[],
  outputs: { script: Uint8Array; amount: bigint }[],
): Uint8Array {
  return RawTx.encode({
    version: 2,
    segwitFlag: false,
    inputs: inputs.map((i) => ({
      txid: hex.decode(i.txid),
      index: i.vout,
      finalScriptSig: new Uint8Array(),
      sequence: 0xfffffffd,
    })),
    outputs,
    lockTime: 0,
  });
}

export function block(prevHash: string, height: number, txs: Uint8Array[], tag = 0): BuiltBlock {
  const all = [coinbase(height, tag), ...txs];
  const txids = all.map(txidOf);
  const header = new Uint8Array(80);
  const dv = new DataView(header.buffer);
  dv.setInt32(0, 0x20000000, true);
  header.set(hex.decode(prevHash).reverse(), 4);
  header.set(hex.decode(merkleRoot(txids)).reverse(), 36);
  dv.setUint32(68, 1_700_000_000 + height * 600, true);
  dv.setUint32(72, 0x207fffff, true);
  dv.setUint32(76, tag, true);
  const body: number[] = [...header, all.length];
  for (const t of all) body.push(...t);
  const hash = hex.encode(sha256(sha256(header)).reverse());
  return { hash, raw: Uint8Array.from(body), txids };
}
