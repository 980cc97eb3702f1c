import { type AuditCheckpoint, verifyCheckpointSignature } from './checkpoint.ts';
import { type AuditRecord, auditHashUnchecked, GENESIS_HASH, isHashHex } from './entry.ts';

/**
 * Offline verification of an audit log: a stream of entries (in the order stored or exported) plus
 * the checkpoints and the trusted checkpoint keys. Pure and streaming (`push` one entry at a time,
 * then `finish`), so the store can verify page by page and the CLI can verify an export file.
 *
 * On the first anomaly it names the first bad `seq` and classifies the tampering:
 *  - edit         an entry's recomputed hash differs from its stored hash, or an entry was rewritten
 *                 and re-hashed so its successor no longer links to it;
 *  - deletion     a seq is missing (gap) and never appears later;
 *  - insertion    an entry links to the same predecessor as the entry after it, or a seq repeats;
 *  - reorder      a missing seq or a dangling link turns up later in the stream;
 *  - truncation   a signed checkpoint covers a seq beyond the last entry;
 *  - checkpoint-mismatch / checkpoint-signature / unknown-key: a checkpoint does not match the
 *                 chain at its seq (chain rewritten and re-hashed), is badly signed, or is signed by
 *                 a key that is not trusted.
 * Classification needs a little look-ahead (a reorder is only told apart from a deletion when the
 * missing seq shows up), so after the first anomaly the verifier keeps reading until `done`.
 */
export type TamperKind =
  | 'edit'
  | 'deletion'
  | 'insertion'
  | 'reorder'
  | 'truncation'
  | 'checkpoint-mismatch'
  | 'checkpoint-signature'
  | 'unknown-key';

export const TAMPER_CODES: Record<TamperKind, string> = {
  edit: 'AUDIT_ENTRY_EDITED',
  deletion: 'AUDIT_ENTRY_DELETED',
  insertion: 'AUDIT_ENTRY_INSERTED',
  reorder: 'AUDIT_ENTRIES_REORDERED',
  truncation: 'AUDIT_LOG_TRUNCATED',
  'checkpoint-mismatch': 'AUDIT_CHECKPOINT_MISMATCH',
  'checkpoint-signature': 'AUDIT_CHECKPOINT_BAD_SIGNATURE',
  'unknown-key': 'AUDIT_CHECKPOINT_UNKNOWN_KEY',
};

export interface AuditVerifyOk {
  ok: true;
  entries: number;
  head: { seq: number; hash: string } | null;
  checkpoints: number;
  /** Highest seq covered by a valid checkpoint (null if none). */
  lastCheckpointSeq: number | null;
  /** Entries after the last checkpoint: protected by the chain only until the next checkpoint. */
  uncheckpointed: number;
}

export interface AuditVerifyFailure {
  ok: false;
  code: string;
  kind: TamperKind;
  /** The first bad seq. */
  seq: number;
  message: string;
  details?: Record<string, unknown>;
}

export type AuditVerifyResult = AuditVerifyOk | AuditVerifyFailure;

interface Pending {
  failure: AuditVerifyFailure;
  /** A reorder if this seq turns up later. */
  lookSeq?: number;
  /** A reorder at `reorderSeq` if an entry with this hash turns up later. */
  lookHash?: string;
  reorderSeq?: number;
  /** An insertion if the very next entry links to this hash too. */
  insertionPrev?: string;
  nextChecked: boolean;
}

function failure(kind: TamperKind, seq: number, message: string, details?: Record<string, unknown>) {
  const f: AuditVerifyFailure = { ok: false, code: TAMPER_CODES[kind], kind, seq, message };
  if (details) f.details = details;
  return f;
}

export class AuditVerifier {
  private readonly checkpoints = new Map<number, AuditCheckpoint[]>();
  private readonly trusted: ReadonlySet<string>;
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private prevEntryPrevHash: string | null = null;
  private count = 0;
  private checkpointCount = 0;
  private lastCheckpointSeq: number | null = null;
  private pending: Pending | null = null;
  private resolved: AuditVerifyFailure | null = null;

  constructor(checkpoints: Iterable<AuditCheckpoint>, trustedKeys: Iterable<string>) {
    this.trusted = new Set([...trustedKeys].map((k) => k.toLowerCase()));
    for (const c of checkpoints) {
      const list = this.checkpoints.get(c.seq);
      if (list) list.push(c);
      else this.checkpoints.set(c.seq, [c]);
    }
  }

  /** True once the outcome cannot change: stop feeding entries. */
  get done(): boolean {
    return this.resolved !== null;
  }

  push(e: AuditRecord): void {
    if (this.resolved) return;
    if (this.pending) {
      this.refine(e);
      return;
    }
    const expected = this.expectedSeq;
    if (e.seq !== expected) {
      if (e.seq > expected) {
        this.pend({
          failure: failure('deletion', expected, `entry ${expected} is missing`),
          lookSeq: expected,
        });
      } else if (e.seq === expected - 1) {
        this.resolve(failure('insertion', e.seq, `seq ${e.seq} appears twice`));
      } else {
        this.resolve(failure('reorder', e.seq, `entry ${e.seq} appears after entry ${expected - 1}`));
      }
      return;
    }
    if (e.prevHash !== this.prevHash) {
      if (this.prevEntryPrevHash !== null && e.prevHash === this.prevEntryPrevHash) {
        // Two consecutive entries claim the same predecessor: the first of them was slipped in.
        this.resolve(failure('insertion', expected - 1, `entry ${expected - 1} was inserted into the chain`));
        return;
      }
      // Does the entry still match its own hash? If not, it was edited itself (its prevHash, or its
      // seq when rows were renumbered or swapped); if it does, the previous entry was rewritten and
      // re-hashed (its successor still links to the original). Either way, when the hash it links
      // to turns up later in the stream, the rows were reordered.
      const selfOk = isHashHex(e.prevHash) && auditHashUnchecked(e.prevHash, e) === e.hash;
      const seq = selfOk ? expected - 1 : expected;
      this.pend({
        failure: failure('edit', seq, `entry ${expected} does not link to entry ${expected - 1}`, {
          linkBrokenAt: expected,
        }),
        lookHash: e.prevHash,
        reorderSeq: expected,
      });
      return;
    }
    // e.prevHash === this.prevHash here: a valid hex hash.
    const hash = auditHashUnchecked(e.prevHash, e);
    if (hash !== e.hash) {
      this.pend({
        failure: failure('edit', expected, `entry ${expected} does not match its hash`),
        insertionPrev: e.prevHash,
      });
      return;
    }
    const cps = this.checkpoints.get(expected);
    if (cps) {
      for (const c of cps) {
        const sig = verifyCheckpointSignature(c, this.trusted);
        if (sig === 'unknown-key') {
          this.resolve(
            failure('unknown-key', expected, `checkpoint at ${expected} is signed by an unknown key`, {
              keyId: c.keyId,
            }),
          );
          return;
        }
        if (sig === 'bad-signature') {
          this.resolve(
            failure('checkpoint-signature', expected, `checkpoint at ${expected} has a bad signature`, {
              keyId: c.keyId,
            }),
          );
          return;
        }
        if (c.hash !== hash) {
          this.resolve(
            failure(
              'checkpoint-mismatch',
              expected,
              `the chain at ${expected} differs from its signed checkpoint: rewritten after seq ${this.lastCheckpointSeq ?? 0}`,
              {
                after: this.lastCheckpointSeq ?? 0,
              },
            ),
          );
          return;
        }
        this.checkpointCount++;
      }
      this.lastCheckpointSeq = expected;
    }
    this.prevEntryPrevHash = e.prevHash;
    this.prevHash = hash;
    this.expectedSeq = expected + 1;
    this.count++;
  }

  finish(): AuditVerifyResult {
    if (this.resolved) return this.resolved;
    if (this.pending) return this.pending.failure;
    const last = this.expectedSeq - 1;
    const beyond = [...this.checkpoints.keys()].filter((s) => s > last).sort((a, b) => a - b);
    if (beyond.length > 0) {
      return failure(
        'truncation',
        last + 1,
        `entries after ${last} are missing but checkpoint ${beyond[0]} covers them`,
        {
          checkpointSeq: beyond[0],
        },
      );
    }
    return {
      ok: true,
      entries: this.count,
      head: last > 0 ? { seq: last, hash: this.prevHash } : null,
      checkpoints: this.checkpointCount,
      lastCheckpointSeq: this.lastCheckpointSeq,
      uncheckpointed: last - (this.lastCheckpointSeq ?? 0),
    };
  }

  private pend(p: Omit<Pending, 'nextChecked'>): void {
    this.pending = { ...p, nextChecked: false };
  }

  private resolve(f: AuditVerifyFailure): void {
    this.pending = null;
    this.resolved = f;
  }

  private refine(e: AuditRecord): void {
    const p = this.pending!;
    if (!p.nextChecked) {
      p.nextChecked = true;
      if (p.insertionPrev !== undefined && e.prevHash === p.insertionPrev) {
        this.resolve(
          failure('insertion', p.failure.seq, `entry ${p.failure.seq} was inserted into the chain`),
        );
        return;
      }
    }
    if (p.lookSeq !== undefined && e.seq === p.lookSeq) {
      this.resolve(failure('reorder', p.lookSeq, `entry ${p.lookSeq} is out of order`));
      return;
    }
    if (p.lookHash !== undefined && e.hash === p.lookHash) {
      this.resolve(failure('reorder', p.reorderSeq!, `entry ${p.reorderSeq} is out of order`));
      return;
    }
    if (p.lookSeq === undefined && p.lookHash === undefined) this.resolve(p.failure);
  }
}

/** Verifies a whole in-memory log. */
export function verifyAuditLog(
  entries: Iterable<AuditRecord>,
  checkpoints: Iterable<AuditCheckpoint>,
  trustedKeys: Iterable<string>,
): AuditVerifyResult {
  const v = new AuditVerifier(checkpoints, trustedKeys);
  for (const e of entries) {
    v.push(e);
    if (v.done) break;
  }
  return v.finish();
}
