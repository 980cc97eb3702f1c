import { hash } from 'node:crypto';
import { canonicalJson } from '../../core/encoding/canonical-json.ts';
import { fail, ok, type Result } from '../../core/errors/base.ts';
import type { Db, Queryable } from '../db.ts';

/**
 * The outbox: an external effect (the unsigned transaction chosen for an intent, a signature
 * request to one co-signer, a broadcast) is written here with the digest of its exact content
 * before it is performed. After a crash the step finds its row and performs the SAME content
 * again (co-signers answer a repeated identical request with the same signature; a rebroadcast of
 * the same raw transaction is a no-op on chain). Asking to record different content for the same
 * (intent, step) is refused with OUTBOX_CONTENT_MISMATCH: a resumed or second coordinator can
 * never send a co-signer a different transaction for an intent, nor broadcast a second one (I8).
 */
export type OutboxStatus = 'pending' | 'done' | 'failed';

export interface OutboxEntry<C = unknown, R = unknown> {
  intentId: string;
  step: string;
  contentDigest: string;
  content: C;
  status: OutboxStatus;
  result: R | null;
  attempts: number;
}

interface Row {
  intent_id: string;
  step: string;
  content_digest: string;
  content: unknown;
  status: OutboxStatus;
  result: unknown;
  attempts: number;
}

const toEntry = <C, R>(r: Row): OutboxEntry<C, R> => ({
  intentId: r.intent_id,
  step: r.step,
  contentDigest: r.content_digest,
  content: r.content as C,
  status: r.status,
  result: r.result as R | null,
  attempts: Number(r.attempts),
});

/**
 * SHA-256 of the RFC 8785 form: equal content has one digest whatever its key order. Node's
 * one-shot hash (OpenSSL), as the intent digest and the audit chain: ~2.5× less CPU than the JS
 * SHA-256 on these ~1 kB records, hashed several times per withdrawal.
 */
export function contentDigest(content: unknown): string {
  return hash('sha256', canonicalJson(content), 'hex');
}

export class Outbox {
  constructor(private readonly db: Db) {}

  /**
   * Records `content` for (intent, step) or returns the existing entry if its content is the same.
   * Different content → OUTBOX_CONTENT_MISMATCH and nothing written.
   */
  async record<C>(
    intentId: string,
    step: string,
    content: C,
    now: Date,
    q: Queryable = this.db,
  ): Promise<Result<OutboxEntry<C>, 'OUTBOX_CONTENT_MISMATCH'>> {
    const digest = contentDigest(content);
    await q.query(
      `INSERT INTO wf_outbox (intent_id, step, content_digest, content, status, created_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, 'pending', $5, $5)
       ON CONFLICT (intent_id, step) DO NOTHING`,
      [intentId, step, digest, JSON.stringify(content), now.toISOString()],
    );
    const { rows } = await q.query<Row>('SELECT * FROM wf_outbox WHERE intent_id = $1 AND step = $2', [
      intentId,
      step,
    ]);
    return sameContent<C>(rows[0]!, intentId, step, digest);
  }

  async get<C = unknown, R = unknown>(
    intentId: string,
    step: string,
  ): Promise<OutboxEntry<C, R> | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM wf_outbox WHERE intent_id = $1 AND step = $2', [
      intentId,
      step,
    ]);
    return rows[0] ? toEntry<C, R>(rows[0]) : undefined;
  }

  async list(intentId: string): Promise<OutboxEntry[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM wf_outbox WHERE intent_id = $1 ORDER BY step', [
      intentId,
    ]);
    return rows.map((r) => toEntry(r));
  }

  /**
   * {@link record} and {@link attempt} in one statement (one round trip, one commit): records the
   * step's content if it is new and counts an attempt at performing it.
   */
  async recordAttempt<C>(
    intentId: string,
    step: string,
    content: C,
    now: Date,
  ): Promise<Result<OutboxEntry<C>, 'OUTBOX_CONTENT_MISMATCH'>> {
    const digest = contentDigest(content);
    const { rows } = await this.db.query<Row>(
      `INSERT INTO wf_outbox (intent_id, step, content_digest, content, status, attempts, created_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, 'pending', 1, $5, $5)
       ON CONFLICT (intent_id, step) DO UPDATE SET attempts = wf_outbox.attempts + 1, updated_at = $5
       RETURNING *`,
      [intentId, step, digest, JSON.stringify(content), now.toISOString()],
    );
    return sameContent<C>(rows[0]!, intentId, step, digest);
  }

  /** Counts an attempt at performing the step (before sending). */
  async attempt(intentId: string, step: string, now: Date): Promise<number> {
    const { rows } = await this.db.query<{ attempts: number }>(
      `UPDATE wf_outbox SET attempts = attempts + 1, updated_at = $3
       WHERE intent_id = $1 AND step = $2 RETURNING attempts`,
      [intentId, step, now.toISOString()],
    );
    return Number(rows[0]?.attempts ?? 0);
  }

  /**
   * Stores the outcome once. A result already stored is kept (first writer wins) and returned, so
   * two processes racing on one step agree on a single answer.
   */
  async settle<R>(
    intentId: string,
    step: string,
    status: 'done' | 'failed',
    result: R,
    now: Date,
    q: Queryable = this.db,
  ): Promise<OutboxEntry<unknown, R>> {
    const { rows: updated } = await q.query<Row>(
      `UPDATE wf_outbox SET status = $3, result = $4::jsonb, updated_at = $5
       WHERE intent_id = $1 AND step = $2 AND status = 'pending'
       RETURNING *`,
      [intentId, step, status, JSON.stringify(result), now.toISOString()],
    );
    if (updated[0]) return toEntry<unknown, R>(updated[0]);
    const { rows } = await q.query<Row>('SELECT * FROM wf_outbox WHERE intent_id = $1 AND step = $2', [
      intentId,
      step,
    ]);
    return toEntry<unknown, R>(rows[0]!);
  }
}

/** One (intent, step) with the content to record for it. */
export interface OutboxItem<C = unknown> {
  intentId: string;
  step: string;
  content: C;
}

/** Every entry of many intents, by intent then step (one query). */
export type OutboxView = Map<string, Map<string, OutboxEntry>>;

/**
 * The batch forms of {@link Outbox}'s calls: a fixed number of statements whatever the number of
 * intents, same first-writer-wins and content-mismatch rules per (intent, step).
 */
export class OutboxBatch {
  constructor(private readonly db: Db) {}

  /**
   * Every entry of these intents (or only `steps`). A settled co-signer request (`sign:*`, done or
   * failed) comes back without its content (null): only its result is read once it is answered,
   * and the request (intent, approvals, transaction) is the largest document in the outbox.
   */
  async view(
    intentIds: readonly string[],
    q: Queryable = this.db,
    steps?: readonly string[],
  ): Promise<OutboxView> {
    const out: OutboxView = new Map();
    if (intentIds.length === 0) return out;
    const { rows } = await q.query<Row>(
      `SELECT intent_id, step, content_digest, status, result, attempts,
         CASE WHEN status <> 'pending' AND step LIKE 'sign:%' THEN NULL ELSE content END AS content
       FROM wf_outbox WHERE intent_id = ANY($1::uuid[]) AND ($2::text[] IS NULL OR step = ANY($2::text[]))`,
      [intentIds, steps ?? null],
    );
    for (const r of rows) {
      const steps = out.get(r.intent_id) ?? new Map<string, OutboxEntry>();
      steps.set(r.step, toEntry(r));
      out.set(r.intent_id, steps);
    }
    return out;
  }

  /**
   * Records each item's content unless its (intent, step) already holds some; `attempt` also
   * counts an attempt at performing it (the batch form of `recordAttempt`). Returns, per item in
   * order, the stored entry or OUTBOX_CONTENT_MISMATCH. Items must not repeat an (intent, step).
   */
  async recordMany<C>(
    items: readonly OutboxItem<C>[],
    now: Date,
    opts: { attempt?: boolean; q?: Queryable } = {},
  ): Promise<Result<OutboxEntry<C>, 'OUTBOX_CONTENT_MISMATCH'>[]> {
    if (items.length === 0) return [];
    // One request goes to every co-signer of a wallet: the same content object, digested once.
    const memo = new Map<unknown, string>();
    const digests = items.map((i) => {
      let d = memo.get(i.content);
      if (d === undefined) {
        d = contentDigest(i.content);
        memo.set(i.content, d);
      }
      return d;
    });
    // The contents travel as one JSON document (json_to_recordset), not as a text[] parameter:
    // an array literal escapes every quote of every document, and JSON text is mostly quotes.
    const params = [
      items.map((i) => i.intentId),
      items.map((i) => i.step),
      digests,
      JSON.stringify(items.map((i) => ({ content: i.content }))),
      now.toISOString(),
    ];
    const q = opts.q ?? this.db;
    // The content is not read back: an entry whose digest matches holds this very content (the
    // digest is over its canonical form), and one that does not is refused.
    const cols = 'intent_id, step, content_digest, status, result, attempts';
    const insert = `INSERT INTO wf_outbox (intent_id, step, content_digest, content, status, attempts, created_at, updated_at)
       SELECT u.intent_id, u.step, u.digest, c.content, 'pending', ${opts.attempt ? 1 : 0}, $5, $5
       FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS u(intent_id, step, digest, n)
       JOIN ROWS FROM (json_to_recordset($4::json) AS (content jsonb)) WITH ORDINALITY AS c(content, n)
         ON c.n = u.n`;
    const { rows } = opts.attempt
      ? await q.query<Row>(
          `${insert} ON CONFLICT (intent_id, step) DO UPDATE SET attempts = wf_outbox.attempts + 1, updated_at = $5
           RETURNING ${cols}`,
          params,
        )
      : await (async () => {
          await q.query(`${insert} ON CONFLICT (intent_id, step) DO NOTHING`, params);
          return q.query<Row>(
            `SELECT o.intent_id, o.step, o.content_digest, o.status, o.result, o.attempts FROM wf_outbox o
             JOIN unnest($1::uuid[], $2::text[]) AS u(intent_id, step)
               ON o.intent_id = u.intent_id AND o.step = u.step`,
            [params[0], params[1]],
          );
        })();
    const byKey = new Map(rows.map((r) => [`${r.intent_id}|${r.step}`, r]));
    return items.map((i, n) =>
      sameContent<C>(
        { ...byKey.get(`${i.intentId}|${i.step}`)!, content: i.content },
        i.intentId,
        i.step,
        digests[n]!,
      ),
    );
  }

  /** Stores outcomes once each (first writer wins, like `settle`). */
  async settleMany(
    items: readonly { intentId: string; step: string; status: 'done' | 'failed'; result: unknown }[],
    now: Date,
    q: Queryable = this.db,
  ): Promise<void> {
    if (items.length === 0) return;
    await q.query(
      `UPDATE wf_outbox AS o SET status = u.status, result = u.result::jsonb, updated_at = $5
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(intent_id, step, status, result)
       WHERE o.intent_id = u.intent_id AND o.step = u.step AND o.status = 'pending'`,
      [
        items.map((i) => i.intentId),
        items.map((i) => i.step),
        items.map((i) => i.status),
        items.map((i) => JSON.stringify(i.result)),
        now.toISOString(),
      ],
    );
  }
}

/** The recorded row, or a refusal when it holds other content than the caller's (first writer wins). */
function sameContent<C>(
  row: Row,
  intentId: string,
  step: string,
  digest: string,
): Result<OutboxEntry<C>, 'OUTBOX_CONTENT_MISMATCH'> {
  if (row.content_digest !== digest) {
    return fail('OUTBOX_CONTENT_MISMATCH', 'this step was already recorded with different content', {
      intentId,
      step,
      recorded: row.content_digest,
      attempted: digest,
    });
  }
  return ok(toEntry<C, unknown>(row));
}
