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
  const [one] = await appendRefusals(db, [e]);
  return one!;
}

/**
 * Appends refusals in order, in one transaction under the lock: the head is read once, each hash
 * links to the one before it (the previous entry of this call for all but the first), and all rows
 * go in with one statement — the chain is the same as appending them one by one.
 */
export async function appendRefusals(
  db: Db,
  entries: readonly Omit<RefusalEntry, 'seq'>[],
): Promise<(RefusalEntry & { hash: string; prevHash: string })[]> {
  if (entries.length === 0) return [];
  return db.transaction(async (tx: Queryable) => {
    await advisoryXactLock(tx, REFUSAL_LOCK);
    const { rows } = await tx.query<{ seq: string | number; hash: string }>(
      'SELECT seq, hash FROM cosigner_refusals ORDER BY seq DESC LIMIT 1',
    );
    let seq = rows[0] ? Number(rows[0].seq) : 0;
    let prevHash = rows[0]?.hash ?? GENESIS_HASH;
    const out: (RefusalEntry & { hash: string; prevHash: string })[] = [];
    for (const e of entries) {
      const entry: RefusalEntry = { ...e, seq: ++seq };
      const hash = refusalHash(prevHash, entry);
      out.push({ ...entry, hash, prevHash });
      prevHash = hash;
    }
    await tx.query(
      `INSERT INTO cosigner_refusals (seq, at, code, step, intent_id, request_digest, details, prev_hash, hash)
       SELECT s, a, c, st, i, rd, d::jsonb, ph, h
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[]) AS u(s, a, c, st, i, rd, d, ph, h)`,
      [
        out.map((x) => x.seq),
        out.map((x) => x.at),
        out.map((x) => x.code),
        out.map((x) => x.step),
        out.map((x) => x.intentId),
        out.map((x) => x.requestDigest),
        out.map((x) => JSON.stringify(x.details)),
        out.map((x) => x.prevHash),
        out.map((x) => x.hash),
      ],
    );
    return out;
  });
}

export type RefusalLogCode = 'REFUSAL_LOG_GAP' | 'REFUSAL_LOG_LINK' | 'REFUSAL_LOG_HASH';

/** Replays the whole chain; returns the head or the first broken entry. */
export async function verifyRefusalLog(
  db: Queryable,
): Promise<Result<{ count: number; head: string }, RefusalLogCode>> {
  return chainResult(await replayAll(db));
}

/** Every entry, replayed from the genesis hash. */
async function replayAll(db: Queryable): Promise<Result<Replayed, RefusalLogCode>> {
  const { rows } = await db.query<Row>('SELECT * FROM cosigner_refusals ORDER BY seq');
  return replay(rows, 1, GENESIS_HASH);
}

const chainResult = (
  r: Result<Replayed, RefusalLogCode>,
): Result<{ count: number; head: string }, RefusalLogCode> =>
  r.ok ? ok({ count: r.value.count, head: r.value.head }) : r;

/** A replayed chain: its length, its head, and the hash the head links to. */
interface Replayed {
  count: number;
  head: string;
  beforeHead: string;
}

/** Checks `rows` as the chain's entries from `expectSeq` on, linked to `prev`. */
function replay(rows: readonly Row[], expectSeq: number, prev: string): Result<Replayed, RefusalLogCode> {
  let beforeHead = GENESIS_HASH;
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
    beforeHead = prev;
    prev = r.hash;
    expectSeq++;
  }
  return ok({ count: expectSeq - 1, head: prev, beforeHead });
}

/**
 * The refusal log's verification for `GET /v1/status`, without replaying the whole chain on every
 * call: the log only grows, so after one full replay each call reads and checks the entries
 * appended since (linked to the head it verified), and re-reads that head entry, whose hash must be
 * unchanged — a truncated tail or an edited head fails at once. An entry edited further back is
 * caught by the full replay that runs again every `fullEveryMs` (default 10 min) and after any
 * failure. Per call: O(new entries), not O(all refusals ever), which an authenticated caller could
 * otherwise make the co-signer spend its CPU on (every refusal adds a hash and a JCS encoding).
 */
export class RefusalLogVerifier {
  private verified: (Replayed & { at: number }) | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly fullEveryMs = 600_000,
  ) {}

  async verify(db: Queryable): Promise<Result<{ count: number; head: string }, RefusalLogCode>> {
    const v = this.verified;
    const nowMs = this.now();
    if (!v || v.count === 0 || nowMs - v.at >= this.fullEveryMs) {
      const full = await replayAll(db);
      this.verified = full.ok ? { ...full.value, at: nowMs } : undefined;
      return chainResult(full);
    }
    // From the verified head on: the head itself (still there, same hash, same content, same link)
    // and what follows it.
    const { rows } = await db.query<Row>('SELECT * FROM cosigner_refusals WHERE seq >= $1 ORDER BY seq', [
      v.count,
    ]);
    const head = rows[0];
    let r: Result<Replayed, RefusalLogCode>;
    if (!head || Number(head.seq) !== v.count)
      r = fail('REFUSAL_LOG_GAP', 'refusal log lost verified entries', { seq: v.count });
    else if (head.hash !== v.head)
      r = fail('REFUSAL_LOG_HASH', 'refusal log entry altered', { seq: v.count });
    else r = replay(rows, v.count, v.beforeHead);
    this.verified = r.ok ? { ...r.value, at: v.at } : undefined;
    return chainResult(r);
  }
}
