import { hex } from '@scure/base';
import { RawTx } from '@scure/btc-signer';
import { assembleBlock, coinbaseTx } from '../../src/bitcoin/regtest-block.ts';

/**
 * Synthetic regtest-style blocks for watchtower tests (no proof of work: the nonce is the tag; the
 * watchtower checks linkage, header hash and merkle root, not difficulty). Assembled by the
 * regtest simulator's block code (src/bitcoin/regtest-block.ts).
 */
export interface BuiltBlock {
  hash: string;
  raw: Uint8Array;
  txids: string[];
}

export function coinbase(height: number, tag: number): Uint8Array {
  return coinbaseTx(height, [{ amount: 50_0000_0000n, script: new Uint8Array([0x51]) }], { tag });
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
  const b = assembleBlock({
    prevHash,
    txs: [coinbase(height, tag), ...txs],
    time: 1_700_000_000 + height * 600,
    nonce: tag,
  });
  return { hash: b.hash, raw: b.raw, txids: b.txids };
}
