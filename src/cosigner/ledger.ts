import type { SignatureResult } from '../core/auth/cosigner-api.ts';
import type { Intent } from '../core/intent/index.ts';
import { LedgerIndex } from '../core/policy/ledger.ts';
import type { LedgerEntry } from '../core/policy/types.ts';
import type { Queryable } from '../store/db.ts';

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

export async function findSigned(tx: Queryable, intentId: string): Promise<LedgerRow | undefined> {
  const { rows } = await tx.query<{
    intent_id: string;
    intent_digest: string;
    tx_kind: string;
    tx_hash: string;
    request_tx_digest: string;
    result: SignatureResult;
  }>(
    `SELECT intent_id, intent_digest, tx_kind, tx_hash, request_tx_digest, result
       FROM cosigner_ledger WHERE intent_id = $1`,
    [intentId],
  );
  const r = rows[0];
  return r
    ? {
        intentId: r.intent_id,
        intentDigest: r.intent_digest,
        txKind: r.tx_kind,
        txHash: r.tx_hash,
        requestTxDigest: r.request_tx_digest,
        result: r.result,
      }
    : undefined;
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

export async function recordSigned(
  tx: Queryable,
  e: {
    intent: Intent;
    intentDigest: string;
    txKind: string;
    txHash: string;
    requestTxDigest: string;
    spendKeys: readonly string[];
    result: SignatureResult;
    at: string;
  },
): Promise<void> {
  const i = e.intent;
  await tx.query(
    `INSERT INTO cosigner_ledger (intent_id, intent_digest, wallet, chain, asset, destination, amount,
       requested_by, tx_kind, tx_hash, result, signed_at, request_tx_digest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      i.id,
      e.intentDigest,
      i.wallet,
      i.chain,
      i.asset,
      i.destination,
      i.amount,
      i.requestedBy,
      e.txKind,
      e.txHash,
      JSON.stringify(e.result),
      e.at,
      e.requestTxDigest,
    ],
  );
  for (const k of e.spendKeys) {
    await tx.query('INSERT INTO cosigner_spends (spend_key, intent_id, tx_hash) VALUES ($1, $2, $3)', [
      k,
      i.id,
      e.txHash,
    ]);
  }
}

export async function ledgerCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM cosigner_ledger');
  return Number(rows[0]?.n ?? 0);
}

/** Records a request nonce; false when it was already seen (a replay). */
export async function recordNonce(
  db: Queryable,
  keyId: string,
  nonce: string,
  nowMs: number,
): Promise<boolean> {
  const r = await db.query(
    `INSERT INTO cosigner_request_nonces (key_id, nonce, seen_ms) VALUES ($1, $2, $3)
     ON CONFLICT (key_id, nonce) DO NOTHING`,
    [keyId, nonce, nowMs],
  );
  return r.rowCount === 1;
}

/** Forgets nonces older than the replay window (they would be refused as stale anyway). */
export async function pruneNonces(db: Queryable, olderThanMs: number): Promise<void> {
  await db.query('DELETE FROM cosigner_request_nonces WHERE seen_ms < $1', [olderThanMs]);
}
