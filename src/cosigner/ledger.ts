import type { SignatureResult } from '../core/auth/cosigner-api.ts';
import type { Intent } from '../core/intent/index.ts';
import { LedgerIndex } from '../core/policy/ledger.ts';
import type { LedgerEntry } from '../core/policy/types.ts';
import type { Db, Queryable } from '../store/db.ts';

/**
 * The co-signer's own ledger of what it signed (SQL in one place). It serves two purposes:
 * velocity limits (policy `evaluate` gets these entries, never the coordinator's) and I8 —
 * never a second, different transaction for the same intent, EVM nonce or Bitcoin outpoint.
 * All functions take the transaction they run in: the check, the signature and the record are
 * one atomic step (pipeline.ts).
 */
export const SIGN_LOCK = 0x4355_5354_4f53_0c02n;

export interface LedgerRow {
  intentId: string;
  intentDigest: string;
  txKind: string;
  txHash: string;
  requestTxDigest: string;
  result: SignatureResult;
}

/** The ledger rows of these intents (one statement for a whole batch), by intent id. */
export async function findSignedMany(
  tx: Queryable,
  intentIds: readonly string[],
): Promise<Map<string, LedgerRow>> {
  const out = new Map<string, LedgerRow>();
  if (intentIds.length === 0) return out;
  const { rows } = await tx.query<{
    intent_id: string;
    intent_digest: string;
    tx_kind: string;
    tx_hash: string;
    request_tx_digest: string;
    result: SignatureResult;
  }>(
    `SELECT intent_id, intent_digest, tx_kind, tx_hash, request_tx_digest, result
       FROM cosigner_ledger WHERE intent_id = ANY($1::text[])`,
    [[...new Set(intentIds)]],
  );
  for (const r of rows)
    out.set(r.intent_id, {
      intentId: r.intent_id,
      intentDigest: r.intent_digest,
      txKind: r.tx_kind,
      txHash: r.tx_hash,
      requestTxDigest: r.request_tx_digest,
      result: r.result,
    });
  return out;
}

export async function findSigned(tx: Queryable, intentId: string): Promise<LedgerRow | undefined> {
  return (await findSignedMany(tx, [intentId])).get(intentId);
}

/** Spend keys already consumed, with the intent and transaction that consumed them. */
export async function findSpends(
  tx: Queryable,
  keys: readonly string[],
): Promise<{ spendKey: string; intentId: string; txHash: string }[]> {
  if (keys.length === 0) return [];
  const { rows } = await tx.query<{ spend_key: string; intent_id: string; tx_hash: string }>(
    'SELECT spend_key, intent_id, tx_hash FROM cosigner_spends WHERE spend_key = ANY($1::text[])',
    [keys],
  );
  return rows.map((r) => ({ spendKey: r.spend_key, intentId: r.intent_id, txHash: r.tx_hash }));
}

interface LedgerDbRow {
  seq: string | number;
  intent_id: string;
  wallet: string;
  chain: string;
  asset: string;
  destination: string;
  amount: string;
  requested_by: string;
  signed_at: string | Date;
}

const toEntry = (r: LedgerDbRow): LedgerEntry => ({
  intentId: r.intent_id,
  wallet: r.wallet,
  chain: r.chain,
  asset: r.asset,
  destination: r.destination,
  amount: r.amount,
  requestedBy: r.requested_by,
  at: (r.signed_at instanceof Date ? r.signed_at : new Date(r.signed_at)).toISOString(),
});

/**
 * The velocity ledger as the policy engine's incremental `LedgerIndex`, kept in memory and brought
 * up to date by reading only rows with a higher `seq` (inside the signing lock this is the
 * authoritative state: every earlier signing has committed). Rebuilt from the database every
 * `rebuildMs` so entries older than the look-back window are dropped and memory stays bounded.
 */
export class LedgerCache {
  private index = new LedgerIndex();
  private lastSeq = 0n;
  private builtAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly lookbackMs: number,
    private readonly rebuildMs = 3_600_000,
  ) {}

  /**
   * Not serialized by a mutex on purpose (a PGlite transaction waiting on a mutex held by a query
   * waiting on that transaction would deadlock): concurrent refreshes stay correct because rows are
   * only ever added with seq above the high-water mark, and a rebuild swaps in a complete index.
   */
  async current(q: Queryable, nowMs: number): Promise<LedgerIndex> {
    if (nowMs - this.builtAtMs > this.rebuildMs || nowMs < this.builtAtMs) {
      this.builtAtMs = nowMs;
      // The max first: every row up to it has committed (rows are inserted and committed under the
      // signing lock, one transaction at a time), so the rows read next cover it.
      const { rows: top } = await q.query<{ seq: string | number | null }>(
        'SELECT max(seq) AS seq FROM cosigner_ledger',
      );
      const since = new Date(nowMs - this.lookbackMs).toISOString();
      const { rows } = await q.query<LedgerDbRow>(`${SELECT_LEDGER} WHERE signed_at >= $1 ORDER BY seq`, [
        since,
      ]);
      const index = new LedgerIndex();
      let last = BigInt(top[0]?.seq ?? 0);
      for (const r of rows) {
        index.add(toEntry(r));
        if (BigInt(r.seq) > last) last = BigInt(r.seq);
      }
      this.index = index;
      this.lastSeq = last;
      return index;
    }
    const { rows } = await q.query<LedgerDbRow>(`${SELECT_LEDGER} WHERE seq > $1 ORDER BY seq`, [
      this.lastSeq.toString(),
    ]);
    for (const r of rows) {
      const seq = BigInt(r.seq);
      if (seq <= this.lastSeq) continue; // added meanwhile by a concurrent refresh
      this.index.add(toEntry(r));
      this.lastSeq = seq;
    }
    return this.index;
  }
}

const SELECT_LEDGER = `SELECT seq, intent_id, wallet, chain, asset, destination, amount, requested_by, signed_at
  FROM cosigner_ledger`;

export interface SignedRecord {
  intent: Intent;
  intentDigest: string;
  txKind: string;
  txHash: string;
  requestTxDigest: string;
  spendKeys: readonly string[];
  result: SignatureResult;
  at: string;
}

/**
 * Records signed transactions with two multi-row statements (ledger rows in the given order — their
 * `seq` is the commit order the velocity cache relies on — then every spend key). Values travel as
 * bound arrays unnested by the database: no SQL text is built from data.
 */
export async function recordSignedMany(tx: Queryable, records: readonly SignedRecord[]): Promise<void> {
  if (records.length === 0) return;
  const col = (f: (r: SignedRecord) => string) => records.map(f);
  await tx.query(
    `INSERT INTO cosigner_ledger (intent_id, intent_digest, wallet, chain, asset, destination, amount,
       requested_by, tx_kind, tx_hash, result, signed_at, request_tx_digest)
     SELECT id, dg, w, c, a, d, am, rb, k, h, r::jsonb, s::timestamptz, rt
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
            WITH ORDINALITY AS u(id, dg, w, c, a, d, am, rb, k, h, r, s, rt, ord)
      ORDER BY ord`,
    [
      col((r) => r.intent.id),
      col((r) => r.intentDigest),
      col((r) => r.intent.wallet),
      col((r) => r.intent.chain),
      col((r) => r.intent.asset),
      col((r) => r.intent.destination),
      col((r) => r.intent.amount),
      col((r) => r.intent.requestedBy),
      col((r) => r.txKind),
      col((r) => r.txHash),
      col((r) => JSON.stringify(r.result)),
      col((r) => r.at),
      col((r) => r.requestTxDigest),
    ],
  );
  const spends = records.flatMap((r) => r.spendKeys.map((k) => [k, r.intent.id, r.txHash] as const));
  if (spends.length === 0) return;
  await tx.query(
    `INSERT INTO cosigner_spends (spend_key, intent_id, tx_hash)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
    [spends.map((x) => x[0]), spends.map((x) => x[1]), spends.map((x) => x[2])],
  );
}

export async function recordSigned(tx: Queryable, e: SignedRecord): Promise<void> {
  await recordSignedMany(tx, [e]);
}

export async function ledgerCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM cosigner_ledger');
  return Number(rows[0]?.n ?? 0);
}

/**
 * Records a request nonce; false when it was already seen (a replay). Its own transaction (a
 * pool, never a caller's transaction, whose commit it would make asynchronous too) commits
 * without waiting for a WAL flush of its own: the row is visible to every later request at once,
 * and the only nonces a server crash can lose are those of requests that left nothing durable —
 * the ledger transaction that records a request's signatures comes after its nonce in the same
 * WAL, so its (synchronous) commit makes the nonce durable too. Replaying such a lost request
 * after a crash signs nothing new (the ledger answers an identical item with its first result and
 * refuses a different one, I8). One WAL flush fewer per request, in the commit queue every
 * signature's ledger transaction and every coordinator commit wait in.
 */
export async function recordNonce(db: Db, keyId: string, nonce: string, nowMs: number): Promise<boolean> {
  const r = await db.query(NONCE_SQL, [keyId, nonce, nowMs]);
  return r.rowCount === 1;
}

/** The nonce insert (see {@link recordNonce}); returns the transaction's setting when it inserted. */
export const NONCE_SQL = `WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)
  INSERT INTO cosigner_request_nonces (key_id, nonce, seen_ms) SELECT $1, $2, $3 FROM nosync
  ON CONFLICT (key_id, nonce) DO NOTHING
  RETURNING (SELECT setting FROM nosync)`;

/** Forgets nonces older than the replay window (they would be refused as stale anyway). */
export async function pruneNonces(db: Queryable, olderThanMs: number): Promise<void> {
  await db.query('DELETE FROM cosigner_request_nonces WHERE seen_ms < $1', [olderThanMs]);
}
