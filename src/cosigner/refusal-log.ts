import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJsonBytes } from '../core/encoding/canonical-json.ts';
import { fail, ok, type Result } from '../core/errors/base.ts';
import { advisoryXactLock, type Db, type Queryable } from '../store/db.ts';

/**
 * The co-signer's own hash-chained refusal log (I5). Each entry's hash commits to the previous
 * hash, so editing, deleting, reordering or truncating-then-appending is detected by replaying
 * the chain offline:
 *
 *   hash_n = SHA-256( "CUSTOS-COSIGNER-REFUSAL-V1\n" || hex(hash_{n-1}) || JCS(entry_n) )
 *
 * with hash_0's predecessor = 64 zeros. (Tail truncation alone needs an externally kept head —
 * `/v1/status` reports the count and the coordinator's audit log records each refusal it got.)
 */
export const REFUSAL_DOMAIN_TAG = 'CUSTOS-COSIGNER-REFUSAL-V1\n';
const TAG = utf8ToBytes(REFUSAL_DOMAIN_TAG);
export const GENESIS_HASH = '0'.repeat(64);
const REFUSAL_LOCK = 0x4355_5354_4f53_0c01n;

export interface RefusalEntry {
  seq: number;
  at: string;
  code: string;
  step: string;
  intentId: string | null;
  /** SHA-256 (hex) of the raw request body: ties the refusal to exactly what was asked. */
  requestDigest: string;
  details: Record<string, unknown>;
}

export function refusalHash(prevHash: string, e: RefusalEntry): string {
  return bytesToHex(sha256(concatBytes(TAG, utf8ToBytes(prevHash), canonicalJsonBytes(e))));
}

interface Row {
  seq: string | number;
  at: string;
  code: string;
  step: string;
  intent_id: string | null;
  request_digest: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** Appends one refusal under a lock so the chain never forks. */
export async function appendRefusal(
  db: Db,
  e: Omit<RefusalEntry, 'seq'>,
): Promise<RefusalEntry & { hash: string }> {
  return db.transaction(async (tx: Queryable) => {
    await advisoryXactLock(tx, REFUSAL_LOCK);
    const { rows } = await tx.query<{ seq: string | number; hash: string }>(
      'SELECT seq, hash FROM cosigner_refusals ORDER BY seq DESC LIMIT 1',
    );
    const prev = rows[0];
    const entry: RefusalEntry = { ...e, seq: prev ? Number(prev.seq) + 1 : 1 };
    const prevHash = prev?.hash ?? GENESIS_HASH;
    const hash = refusalHash(prevHash, entry);
    await tx.query(
      `INSERT INTO cosigner_refusals (seq, at, code, step, intent_id, request_digest, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        entry.seq,
        entry.at,
        entry.code,
        entry.step,
        entry.intentId,
        entry.requestDigest,
        JSON.stringify(entry.details),
        prevHash,
        hash,
      ],
    );
    return { ...entry, hash };
  });
}

export type RefusalLogCode = 'REFUSAL_LOG_GAP' | 'REFUSAL_LOG_LINK' | 'REFUSAL_LOG_HASH';

/** Replays the whole chain; returns the head or the first broken entry. */
export async function verifyRefusalLog(
  db: Queryable,
): Promise<Result<{ count: number; head: string }, RefusalLogCode>> {
  const { rows } = await db.query<Row>('SELECT * FROM cosigner_refusals ORDER BY seq');
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  for (const r of rows) {
    const seq = Number(r.seq);
    if (seq !== expectSeq)
      return fail('REFUSAL_LOG_GAP', 'refusal log has a gap or reordering', { seq, expectSeq });
    if (r.prev_hash !== prev) return fail('REFUSAL_LOG_LINK', 'refusal log link broken', { seq });
    const entry: RefusalEntry = {
      seq,
      at: r.at,
      code: r.code,
      step: r.step,
      intentId: r.intent_id,
      requestDigest: r.request_digest,
      details: r.details,
    };
    if (refusalHash(prev, entry) !== r.hash)
      return fail('REFUSAL_LOG_HASH', 'refusal log entry altered', { seq });
    prev = r.hash;
    expectSeq++;
  }
  return ok({ count: rows.length, head: prev });
}
