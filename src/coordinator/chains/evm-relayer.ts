import { hexToBytes } from '@noble/hashes/utils.js';
import { type Hex, keccak256, serializeTransaction, type TransactionSerializableEIP1559 } from 'viem';
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

/**
 * A value read from the node at most once per `ttlMs`, shared by concurrent callers (one request
 * in flight at a time); a failed read is not kept.
 */
export class Sampled<T> {
  private value: T | undefined;
  private at = -Infinity;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  get(nowMs: number, fresh = false): Promise<T> {
    if (!fresh && this.value !== undefined && nowMs - this.at < this.ttlMs)
      return Promise.resolve(this.value);
    if (this.inFlight && !fresh) return this.inFlight;
    const p = this.read().then(
      (v) => {
        this.value = v;
        this.at = nowMs;
        if (this.inFlight === p) this.inFlight = undefined;
        return v;
      },
      (e: unknown) => {
        if (this.inFlight === p) this.inFlight = undefined;
        throw e;
      },
    );
    this.inFlight = p;
    return p;
  }
}

/**
 * Signs the relayer's EIP-1559 carrier: keccak256 of the unsigned serialization (EIP-1559 signing
 * hash), ECDSA with RFC 6979 nonces and low S (EIP-2) through the software backends' libsecp256k1
 * path (src/keys/ecdsa.ts), then the signed serialization. The bytes are the ones viem's
 * `signTransaction` produces (same deterministic signature; test/coordinator/evm-relayer-sampling
 * checks it) at about a third of the CPU, which matters at hundreds of carriers a second.
 */
export function signCarrier(
  tx: TransactionSerializableEIP1559 & { chainId: number },
  relayerKey: Hex,
): { raw: Hex; txHash: Hex } {
  const digest = hexToBytes(keccak256(serializeTransaction({ ...tx, type: 'eip1559' })).slice(2));
  const sig = signDigestLowS(digest, hexToBytes(relayerKey.slice(2)));
  const word = (n: bigint): Hex => `0x${n.toString(16).padStart(64, '0')}`;
  const raw = serializeTransaction(
    { ...tx, type: 'eip1559' },
    { r: word(sig.r), s: word(sig.s), yParity: sig.recovery },
  );
  return { raw, txHash: keccak256(raw) };
}
