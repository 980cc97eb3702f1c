import { fail, ok, type Result } from '../../core/errors/base.ts';
import type { Db, Queryable } from '../db.ts';
import type { AuditEntryInput, StagedAuditRows } from './audit-port.ts';
import type { IntentRecord, NewIntent } from './intents.ts';
import type { EnqueueInput } from './queue.ts';

/**
 * The bound values of a new wf_intents row, in the column order both insert statements use
 * (id, digest, intent_json, signature, requested_by, wallet, chain, expires_at, created_at).
 */
export function intentRowParams(input: NewIntent, at: string): unknown[] {
  return [
    input.id,
    input.digest,
    input.intentJson,
    JSON.stringify(input.signature),
    input.requestedBy,
    input.wallet,
    input.chain,
    input.expiresAt.toISOString(),
    at,
  ];
}

/**
 * The Idempotency-Key record written together with a new intent: the key is claimed and its
 * response stored by the same statement that creates the intent, so both exist or neither does.
 */
export interface NewKeyRecord {
  principal: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
  leaseUntil: Date;
  statusCode: number;
  /** The stored response, already serialized (JSON text; sent to the client byte for byte). */
  response: (record: IntentRecord) => string;
}

/**
 * A new intent in ONE statement, one round trip, no BEGIN/COMMIT (a single statement is atomic):
 * the intent row, its first history row, its jobs, its staged audit entries and the
 * Idempotency-Key record with the stored response. Data-modifying CTEs all run, in one snapshot;
 * the dependent inserts read the intent insert's RETURNING, so they write only when it did
 * (history rows' foreign key is checked at the end of the statement, when the intent row exists).
 *
 *  - id or digest already taken → ON CONFLICT DO NOTHING: nothing at all is written (no key either:
 *    the caller looks the key up, which may be this very request's replay);
 *  - Idempotency-Key already taken (same principal and key) → unique violation: the whole
 *    statement, intent included, is rolled back (same key with another body must not create).
 *    Two concurrent first requests with one key and one body: the second waits on the first's
 *    intent row, then finds it (DO NOTHING) and looks the key up: the stored response, not a second intent.
 *
 * Columns and defaults are those of migration 0500 (wf_intents, wf_transitions, wf_jobs,
 * idempotency_keys) and 0003 (audit_inbox); `enqueueInTx` and `insertHistory` write the same rows
 * for the multi-statement path.
 */
const CREATE_WITH_KEY = `WITH i AS (
    INSERT INTO wf_intents (id, digest, intent_json, signature, requested_by, wallet, chain, state,
      version, expires_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, 'requested', 0, $8, $9, $9)
    ON CONFLICT DO NOTHING
    RETURNING id),
  h AS (
    INSERT INTO wf_transitions (intent_id, seq, from_state, to_state, event, actor, at, details)
    SELECT id, 0, NULL, 'requested', 'submitted', $5, $9, $10::jsonb FROM i),
  j AS (
    INSERT INTO wf_jobs (kind, dedup_key, payload, run_at, max_attempts, created_at, updated_at)
    SELECT x.kind, x.dedup_key, x.payload::jsonb, x.run_at, x.max_attempts, $9, $9
    FROM i, unnest($11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::int[])
      AS x(kind, dedup_key, payload, run_at, max_attempts)
    ON CONFLICT (dedup_key) DO NOTHING),
  a AS (
    INSERT INTO audit_inbox (kind, actor, subject, body)
    SELECT x.kind, x.actor, x.subject, x.body
    FROM i, unnest($16::text[], $17::text[], $18::text[], $19::text[]) AS x(kind, actor, subject, body)),
  k AS (
    INSERT INTO idempotency_keys (principal, key, method, path, request_hash, status_code, response,
      lease_until, created_at)
    SELECT $20, $21, $22, $23, $24, $25, $26::jsonb, $27, $9 FROM i)
  SELECT count(*)::int AS n FROM i`;

/** PostgreSQL unique_violation on the Idempotency-Key primary key (pg and PGlite both carry it). */
export function isKeyTaken(e: unknown): boolean {
  const err = e as { code?: unknown; constraint?: unknown; message?: unknown };
  if (err?.code !== '23505') return false;
  if (typeof err.constraint === 'string') return err.constraint === 'idempotency_keys_pkey';
  return typeof err.message === 'string' && err.message.includes('idempotency_keys_pkey');
}

/** The audit entry of a new intent (both create paths). */
export function requestedEntry(input: NewIntent): AuditEntryInput {
  return {
    kind: 'intent.requested',
    actor: input.requestedBy,
    subject: `intent:${input.id}`,
    body: { digest: input.digest, wallet: input.wallet, chain: input.chain },
  };
}

/** The key record in the multi-statement path; a taken key raises unique_violation ({@link isKeyTaken}). */
export async function insertKeyRecord(
  tx: Queryable,
  key: NewKeyRecord,
  record: IntentRecord,
  now: Date,
): Promise<void> {
  await tx.query(
    `INSERT INTO idempotency_keys (principal, key, method, path, request_hash, status_code, response,
       lease_until, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
    [
      key.principal,
      key.key,
      key.method,
      key.path,
      key.requestHash,
      key.statusCode,
      key.response(record),
      key.leaseUntil.toISOString(),
      now.toISOString(),
    ],
  );
}

export type CreateWithKeyResult = Result<IntentRecord, 'DUPLICATE_INTENT' | 'IDEMPOTENCY_KEY_TAKEN'>;

/**
 * Runs {@link CREATE_WITH_KEY}. The record is built from what was written (state `requested`,
 * version 0, timestamps `now`): nothing is read back. `audit` is the staging half of the audit
 * port; `staged()` is called after the statement ran.
 */
export async function createWithKey(
  db: Db,
  audit: { rows: StagedAuditRows; staged: () => void },
  input: NewIntent,
  now: Date,
  enqueue: readonly EnqueueInput[],
  key: NewKeyRecord,
): Promise<CreateWithKeyResult> {
  const at = now.toISOString();
  const record: IntentRecord = {
    ...input,
    state: 'requested',
    version: 0,
    decision: null,
    failure: null,
    notBefore: null,
    createdAt: now,
    updatedAt: now,
  };
  const response = key.response(record);
  let n: number;
  try {
    const { rows } = await db.query<{ n: number }>(CREATE_WITH_KEY, [
      ...intentRowParams(input, at),
      JSON.stringify({ digest: input.digest }),
      enqueue.map((j) => j.kind),
      enqueue.map((j) => j.dedupKey ?? null),
      enqueue.map((j) => JSON.stringify(j.payload)),
      enqueue.map((j) => (j.runAt ?? now).toISOString()),
      enqueue.map((j) => j.maxAttempts ?? 20),
      audit.rows.kind,
      audit.rows.actor,
      audit.rows.subject,
      audit.rows.body,
      key.principal,
      key.key,
      key.method,
      key.path,
      key.requestHash,
      key.statusCode,
      response,
      key.leaseUntil.toISOString(),
    ]);
    n = Number(rows[0]?.n ?? 0);
  } catch (e) {
    if (isKeyTaken(e)) {
      return fail('IDEMPOTENCY_KEY_TAKEN', 'this Idempotency-Key is already recorded', { key: key.key });
    }
    throw e;
  }
  if (n === 0) {
    return fail('DUPLICATE_INTENT', 'an intent with this id or digest already exists', {
      id: input.id,
      digest: input.digest,
    });
  }
  audit.staged();
  return ok(record);
}
