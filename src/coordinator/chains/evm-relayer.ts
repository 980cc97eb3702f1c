import { keccak_256 } from '@noble/hashes/sha3.js';
import { type Address, bytesToHex, type Hex, hexToBytes, isAddress, numberToHex, toRlp } from 'viem';
import { CustosError } from '../../core/errors/base.ts';
import { signDigestLowS } from '../../keys/ecdsa.ts';

/**
 * Relayer nonces handed out by this process. A carrier transaction is frozen in the outbox when it
 * is signed and sent later, so the node's pending count does not yet include the ones handed out
 * but not sent: the next nonce is the larger of that count and one past the last one given. A
 * nonce given to a carrier that never reached the node (a finalize whose outbox record lost a
 * race) leaves a gap that holds every later carrier back; when the node's pending count has not
 * moved for `gapMs` while we are ahead of it, the gap is filled by handing out the node's count.
 */
export class RelayerNonces {
  private nextNonce = 0;
  private lastPending = -1;
  private pendingSince = 0;

  constructor(private readonly gapMs = 15_000) {}

  /**
   * Whether `next(pending, nowMs)` would fill a gap (hand out a nonce below ones already given).
   * A caller that samples the node's pending count must re-read it fresh before such a call: a
   * stale count would re-issue a nonce the node has meanwhile consumed.
   */
  wouldFillGap(pending: number, nowMs: number): boolean {
    const since = pending !== this.lastPending ? nowMs : this.pendingSince;
    return pending < this.nextNonce && nowMs - since >= this.gapMs;
  }

  next(pending: number, nowMs: number): number {
    if (pending !== this.lastPending) {
      this.lastPending = pending;
      this.pendingSince = nowMs;
    }
    const stuck = pending < this.nextNonce && nowMs - this.pendingSince >= this.gapMs;
    const nonce = stuck ? pending : Math.max(pending, this.nextNonce);
    if (stuck) this.pendingSince = nowMs;
    this.nextNonce = Math.max(this.nextNonce, nonce + 1);
    return nonce;
  }
}

/** The relayer's carrier: an EIP-1559 call with no access list. */
export interface CarrierTx {
  chainId: number;
  nonce: number;
  to: Address;
  value?: bigint;
  data: Hex;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/**
 * Signs the relayer's EIP-1559 carrier: keccak256 of the unsigned serialization (EIP-1559 signing
 * hash), ECDSA with RFC 6979 nonces and low S (EIP-2) through the software backends' libsecp256k1
 * path (src/keys/ecdsa.ts), then the signed serialization. The bytes are the ones viem's
 * `signTransaction` produces (same deterministic signature; test/coordinator/evm-relayer-sampling
 * checks it on random carriers) at a fraction of the CPU, which matters at hundreds of carriers a
 * second: the fields are encoded to bytes once for both serializations (viem's RLP encoder and
 * field rules, as in its serializeTransactionEIP1559), and both hashes are taken on those bytes
 * (no hex round trips).
 */
export function signCarrier(tx: CarrierTx, relayerKey: Hex): { raw: Hex; txHash: Hex } {
  // Checks viem's assertTransactionEIP1559 makes on these fields.
  if (tx.chainId <= 0) throw new CustosError('CHAIN_MISMATCH', 'carrier chain id must be positive');
  if (!isAddress(tx.to, { strict: false })) throw new CustosError('BAD_ADDRESS', 'carrier target');
  if (tx.maxPriorityFeePerGas > tx.maxFeePerGas)
    throw new CustosError('FEE_INVALID', 'maxPriorityFeePerGas above maxFeePerGas');
  // EIP-1559: [chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data,
  // accessList] — a zero quantity is the empty string (RLP of 0).
  const q = (n: bigint | number | undefined): Uint8Array => (n ? hexToBytes(numberToHex(n)) : EMPTY);
  const fields = [
    q(tx.chainId),
    q(tx.nonce),
    q(tx.maxPriorityFeePerGas),
    q(tx.maxFeePerGas),
    q(tx.gas),
    hexToBytes(tx.to),
    q(tx.value),
    hexToBytes(tx.data),
    [] as Uint8Array[],
  ];
  const sig = signDigestLowS(keccak_256(typed(toRlp(fields, 'bytes'))), hexToBytes(relayerKey));
  // yParity, r, s: minimal big-endian integers, zero as the empty string.
  const signed = typed(toRlp([...fields, q(sig.recovery), q(sig.r), q(sig.s)], 'bytes'));
  return { raw: bytesToHex(signed), txHash: bytesToHex(keccak_256(signed)) };
}

const EMPTY = new Uint8Array(0);
const EIP1559_TYPE = 0x02;

/** The EIP-2718 typed envelope: the type byte, then the RLP payload. */
function typed(rlp: Uint8Array): Uint8Array {
  const out = new Uint8Array(rlp.length + 1);
  out[0] = EIP1559_TYPE;
  out.set(rlp, 1);
  return out;
}
