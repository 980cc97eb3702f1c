import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '@scure/base';
import { RawTx } from '@scure/btc-signer';
import { merkleRoot } from '../core/chains/bitcoin/block/merkle.ts';
import { parseRawTx, reversedHex } from '../core/chains/bitcoin/tx/raw.ts';

/**
 * Block assembly for the local regtest simulator (src/bitcoin/regtest-sim.ts) and the watchtower
 * tests' synthetic chains: a coinbase with the BIP 34 height, the BIP 141 witness commitment when
 * a transaction carries witnesses, the merkle root over the txids, the 80-byte header linked to
 * its parent, and — when asked — a nonce ground until the header hash meets the target of `bits`
 * (regtest's 0x207fffff: about every second hash qualifies, so real proof of work costs nothing).
 */
export const REGTEST_BITS = 0x207fffff;

/** Bitcoin Core's regtest genesis block (chainparams.cpp): its hash names the CAIP-2 chain. */
export const REGTEST_GENESIS_HASH = '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206';
const GENESIS_COINBASE =
  '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104' +
  '455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365' +
  '636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967' +
  'f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c' +
  '702b6bf11d5fac00000000';

export interface AssembledBlock {
  hash: string;
  raw: Uint8Array;
  /** Display-hex txids, coinbase first. */
  txids: string[];
  time: number;
}

const sha256d = (b: Uint8Array) => sha256(sha256(b));

/** Display-hex wtxid (BIP 141: double SHA-256 of the serialization with witnesses). */
export function wtxidOf(raw: Uint8Array): string {
  return reversedHex(sha256d(raw));
}

/** BIP 34 height push (CScriptNum, minimal). */
function heightPush(height: number): number[] {
  if (height === 0) return [0x00];
  if (height <= 16) return [0x50 + height];
  const n: number[] = [];
  for (let v = height; v > 0; v >>= 8) n.push(v & 0xff);
  if (n[n.length - 1]! & 0x80) n.push(0);
  return [n.length, ...n];
}

/**
 * A coinbase paying `outputs`; `tag` makes two coinbases at one height differ (forks in tests);
 * `witnessCommitment` (32 bytes) adds BIP 141's OP_RETURN commitment and the 32-byte reserved
 * value as the coinbase witness.
 */
export function coinbaseTx(
  height: number,
  outputs: { script: Uint8Array; amount: bigint }[],
  o: { tag?: number; witnessCommitment?: Uint8Array } = {},
): Uint8Array {
  const outs = [...outputs];
  if (o.witnessCommitment)
    outs.push({
      amount: 0n,
      script: new Uint8Array([0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed, ...o.witnessCommitment]),
    });
  return RawTx.encode({
    version: 2,
    segwitFlag: o.witnessCommitment !== undefined,
    inputs: [
      {
        txid: new Uint8Array(32),
        index: 0xffffffff,
        // BIP 34 height, then a tag byte: a coinbase script is at least 2 bytes.
        finalScriptSig: new Uint8Array([...heightPush(height), o.tag ?? 0]),
        sequence: 0xffffffff,
      },
    ],
    outputs: outs,
    ...(o.witnessCommitment ? { witnesses: [[new Uint8Array(32)]] } : {}),
    lockTime: 0,
  });
}

/** BIP 141 commitment over `txs` (coinbase excluded: its wtxid counts as zero), reserved value 0. */
export function witnessCommitment(txs: readonly Uint8Array[]): Uint8Array {
  const root = merkleRoot(['00'.repeat(32), ...txs.map(wtxidOf)]);
  const both = new Uint8Array(64);
  both.set(hex.decode(root).reverse());
  return sha256d(both);
}

/** Whether the header hash (display hex) is at or below the target encoded by compact `bits`. */
export function meetsTarget(hashHex: string, bits: number): boolean {
  const exp = bits >>> 24;
  const mantissa = BigInt(bits & 0x7fffff);
  const target = exp <= 3 ? mantissa >> BigInt(8 * (3 - exp)) : mantissa << BigInt(8 * (exp - 3));
  return BigInt(`0x${hashHex}`) <= target;
}

/**
 * Assembles a block over `txs` (coinbase first). With `mine`, the nonce is ground from `nonce`
 * until the hash meets `bits`; without it the header keeps `nonce` (synthetic test chains).
 */
export function assembleBlock(b: {
  prevHash: string;
  txs: readonly Uint8Array[];
  time: number;
  bits?: number;
  nonce?: number;
  version?: number;
  mine?: boolean;
}): AssembledBlock {
  const bits = b.bits ?? REGTEST_BITS;
  const txids = b.txs.map((t) => parseRawTx(t).txid);
  const header = new Uint8Array(80);
  const dv = new DataView(header.buffer);
  dv.setInt32(0, b.version ?? 0x20000000, true);
  header.set(hex.decode(b.prevHash).reverse(), 4);
  header.set(hex.decode(merkleRoot(txids)).reverse(), 36);
  dv.setUint32(68, b.time, true);
  dv.setUint32(72, bits, true);
  let nonce = b.nonce ?? 0;
  let hash: string;
  for (;;) {
    dv.setUint32(76, nonce >>> 0, true);
    hash = reversedHex(sha256d(header));
    if (!b.mine || meetsTarget(hash, bits)) break;
    nonce++;
  }
  const body: number[] = [...header, ...compactSize(b.txs.length)];
  for (const t of b.txs) body.push(...t);
  return { hash, raw: Uint8Array.from(body), txids, time: b.time };
}

function compactSize(n: number): number[] {
  if (n < 0xfd) return [n];
  if (n <= 0xffff) return [0xfd, n & 0xff, n >> 8];
  return [0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
}

/** The regtest genesis block, byte for byte (version 1, time 1296688602, nonce 2). */
export function regtestGenesis(): AssembledBlock {
  const b = assembleBlock({
    prevHash: '00'.repeat(32),
    txs: [hex.decode(GENESIS_COINBASE)],
    time: 1296688602,
    nonce: 2,
    version: 1,
  });
  if (b.hash !== REGTEST_GENESIS_HASH) throw new Error('regtest genesis assembled wrongly');
  return b;
}
