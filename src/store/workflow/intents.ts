import { CustosError, fail, ok, type Result } from '../../core/errors/base.ts';
import {
  type IntentEvent,
  type IntentState,
  isIntentState,
  nextState,
  type TransitionCode,
} from '../../core/workflow/states.ts';
import type { Db, Queryable } from '../db.ts';
import type { AuditAppender, AuditEntryInput } from './audit-port.ts';
import {
  createWithKey,
  insertKeyRecord,
  intentRowParams,
  isKeyTaken,
  type NewKeyRecord,
  requestedEntry,
} from './create-intent.ts';
import { type EnqueueInput, enqueueInTx } from './queue.ts';

/** A persisted intent as the workflow sees it. */
export interface IntentRecord {
  id: string;
  digest: string;
  intentJson: string;
  signature: unknown;
  requestedBy: string;
  wallet: string;
  chain: string;
  state: IntentState;
  version: number;
  decision: unknown;
  failure: { code: string; message: string; details?: Record<string, unknown> } | null;
  notBefore: Date | null;
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface IntentRow {
  id: string;
  digest: string;
  intent_json: string;
  signature: unknown;
  requested_by: string;
  wallet: string;
  chain: string;
  state: string;
  version: number;
  decision: unknown;
  failure: IntentRecord['failure'];
  not_before: Date | string | null;
  expires_at: Date | string;
  created_at: Date | string;
  updated_at: Date | string;
}

export const toDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));

export function fromRow(r: IntentRow): IntentRecord {
  if (!isIntentState(r.state)) {
    // A row in a state this code does not know was written by something else: refuse to act on it.
    throw new CustosError('UNKNOWN_INTENT_STATE', 'intent row has an unknown state', {
      details: { id: r.id, state: r.state },
    });
  }
  return {
    id: r.id,
    digest: r.digest,
    intentJson: r.intent_json,
    signature: r.signature,
    requestedBy: r.requested_by,
    wallet: r.wallet,
    chain: r.chain,
    state: r.state,
    version: Number(r.version),
    decision: r.decision,
    failure: r.failure,
    notBefore: r.not_before === null ? null : toDate(r.not_before),
    expiresAt: toDate(r.expires_at),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

/** What a caller supplies to create an intent; state, version and timestamps are the store's. */
export type NewIntent = Pick<
  IntentRecord,
  'id' | 'digest' | 'intentJson' | 'signature' | 'requestedBy' | 'wallet' | 'chain' | 'expiresAt'
>;

/** Options of {@link IntentStore.create}. */
export interface CreateExtra {
  /** Jobs enqueued with the intent (same transaction). */
  enqueue?: EnqueueInput[];
  /** Runs in the creating transaction, after the insert (forces the multi-statement path). */
  inTx?: (tx: Queryable, record: IntentRecord) => Promise<void>;
  /** The Idempotency-Key record (claimed and answered) written with the intent. */
  idempotency?: NewKeyRecord;
}

export interface TransitionInput {
  event: IntentEvent;
  actor: string;
  details?: Record<string, unknown>;
  /** Refuse unless the intent is still at this version (optimistic check across processes). */
  expectVersion?: number;
  decision?: unknown;
  failure?: IntentRecord['failure'];
  notBefore?: Date | null;
  /** Jobs to enqueue in the same transaction (the next step). */
  enqueue?: EnqueueInput[];
}

export type TransitionResult = Result<IntentRecord, TransitionCode | 'NOT_FOUND' | 'VERSION_CONFLICT'>;

export interface PageCursor {
  createdAt: string;
  id: string;
}

/**
 * Intents and their state machine, persisted. Every transition — state row, history row, audit
 * entry and next job — is one transaction, taken under the intent's row lock so two coordinator
 * processes cannot both move the same intent.
 */
export class IntentStore {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditAppender,
  ) {}

  /** Staged when the log can (no append lock held through the commit), else appended. */
  private appendAudit(tx: Queryable, entries: AuditEntryInput[]): Promise<unknown> {
    return this.audit.stageInTx ? this.audit.stageInTx(tx, entries) : this.audit.appendInTx(tx, entries);
  }

  /**
   * Records a new intent in `requested` (with its first history row and audit entry). Returns
   * `DUPLICATE_INTENT` when the id or digest exists: one intent can never become two withdrawals.
   *
   * With `idempotency` (the API's Idempotency-Key, claimed and answered by this same write) and an
   * audit log that can stage rows, everything is ONE statement (create-intent.ts): one round trip.
   * `IDEMPOTENCY_KEY_TAKEN` then means the key exists and nothing was written.
   */
  async create(
    input: NewIntent,
    now: Date,
    extra?: CreateExtra,
  ): Promise<Result<IntentRecord, 'DUPLICATE_INTENT' | 'IDEMPOTENCY_KEY_TAKEN'>> {
    const key = extra?.idempotency;
    const { stageRows, staged } = this.audit;
    if (key && !extra?.inTx && stageRows && staged) {
      const entries = [requestedEntry(input)];
      const audit = { rows: stageRows.call(this.audit, entries), staged: () => staged.call(this.audit) };
      return createWithKey(this.db, audit, input, now, extra?.enqueue ?? [], key);
    }
    return this.db
      .transaction(async (tx) => this.createInTx(tx, input, now, extra))
      .catch((e: unknown) => {
        if (key && isKeyTaken(e)) {
          return fail('IDEMPOTENCY_KEY_TAKEN', 'this Idempotency-Key is already recorded', { key: key.key });
        }
        throw e;
      });
  }

  /** The multi-statement create (an audit log that cannot stage rows, or an `inTx` callback). */
  private async createInTx(
    tx: Queryable,
    input: NewIntent,
    now: Date,
    extra?: CreateExtra,
  ): Promise<Result<IntentRecord, 'DUPLICATE_INTENT'>> {
    const { rows } = await tx.query<IntentRow>(
      `INSERT INTO wf_intents (id, digest, intent_json, signature, requested_by, wallet, chain, state,
           version, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, 'requested', 0, $8, $9, $9)
         ON CONFLICT DO NOTHING
         RETURNING *`,
      intentRowParams(input, now.toISOString()),
    );
    if (rows.length === 0) {
      return fail('DUPLICATE_INTENT', 'an intent with this id or digest already exists', {
        id: input.id,
        digest: input.digest,
      });
    }
    await insertHistory(tx, input.id, 0, null, 'requested', 'submitted', input.requestedBy, now, {
      digest: input.digest,
    });
    for (const job of extra?.enqueue ?? []) await enqueueInTx(tx, job, now);
    const record = fromRow(rows[0]!);
    if (extra?.idempotency) await insertKeyRecord(tx, extra.idempotency, record, now);
    // Last before COMMIT (but for `inTx`): when the log cannot stage, the append holds its lock
    // until the transaction ends, so everything else is done first to keep that section short.
    await this.appendAudit(tx, [requestedEntry(input)]);
    await extra?.inTx?.(tx, record);
    return ok(record);
  }

  async get(id: string, q: Queryable = this.db): Promise<IntentRecord | undefined> {
    const { rows } = await q.query<IntentRow>('SELECT * FROM wf_intents WHERE id = $1', [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async getByDigest(digest: string): Promise<IntentRecord | undefined> {
    const { rows } = await this.db.query<IntentRow>('SELECT * FROM wf_intents WHERE digest = $1', [digest]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Applies one event under the row lock; see {@link transitionInTx}. */
  async transition(id: string, input: TransitionInput, now: Date): Promise<TransitionResult> {
    return this.db.transaction((tx) => this.transitionInTx(tx, id, input, now));
  }

  /**
   * Applies one event inside the caller's transaction (so a job's completion or an outbox write
   * commits with it). Illegal edges come back as typed results, nothing is written.
   */
  async transitionInTx(
    tx: Queryable,
    id: string,
    input: TransitionInput,
    now: Date,
  ): Promise<TransitionResult> {
    const { rows } = await tx.query<IntentRow>('SELECT * FROM wf_intents WHERE id = $1 FOR UPDATE', [id]);
    if (!rows[0]) return fail('NOT_FOUND', 'no such intent', { id });
    const current = fromRow(rows[0]);
    if (input.expectVersion !== undefined && input.expectVersion !== current.version) {
      return fail('VERSION_CONFLICT', 'the intent changed since it was read', {
        id,
        expected: input.expectVersion,
        actual: current.version,
      });
    }
    const step = nextState(current.state, input.event);
    if (!step.ok) return step;
    const to = step.value;
    const version = current.version + 1;
    const { rows: updated } = await tx.query<IntentRow>(
      `UPDATE wf_intents SET state = $2, version = $3, updated_at = $4,
         decision = CASE WHEN $5::boolean THEN $6::jsonb ELSE decision END,
         failure = CASE WHEN $7::boolean THEN $8::jsonb ELSE failure END,
         not_before = CASE WHEN $9::boolean THEN $10::timestamptz ELSE not_before END
       WHERE id = $1 RETURNING *`,
      [
        id,
        to,
        version,
        now.toISOString(),
        input.decision !== undefined,
        input.decision === undefined ? null : JSON.stringify(input.decision),
        input.failure !== undefined,
        input.failure == null ? null : JSON.stringify(input.failure),
        input.notBefore !== undefined,
        input.notBefore == null ? null : input.notBefore.toISOString(),
      ],
    );
    const details = { ...(input.details ?? {}), ...(input.failure ? { failure: input.failure } : {}) };
    await insertHistory(tx, id, version, current.state, to, input.event, input.actor, now, details);
    for (const job of input.enqueue ?? []) await enqueueInTx(tx, job, now);
    // Last (see create).
    await this.appendAudit(tx, [
      {
        kind: `intent.${to}`,
        actor: input.actor,
        subject: `intent:${id}`,
        body: { digest: current.digest, from: current.state, to, event: input.event, ...details },
      },
    ]);
    return ok(fromRow(updated[0]!));
  }

  async history(
    id: string,
  ): Promise<{ seq: number; from: string | null; to: string; event: string; actor: string; at: Date }[]> {
    const { rows } = await this.db.query<{
      seq: number;
      from_state: string | null;
      to_state: string;
      event: string;
      actor: string;
      at: Date | string;
    }>(
      'SELECT seq, from_state, to_state, event, actor, at FROM wf_transitions WHERE intent_id = $1 ORDER BY seq',
      [id],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      from: r.from_state,
      to: r.to_state,
      event: r.event,
      actor: r.actor,
      at: toDate(r.at),
    }));
  }

  /** Newest first, keyset pagination on (created_at, id): stable under concurrent inserts. */
  async list(opts: {
    limit: number;
    after?: PageCursor;
    state?: IntentState;
    requestedBy?: string;
  }): Promise<{ items: IntentRecord[]; next?: PageCursor }> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (opts.state) {
      params.push(opts.state);
      where.push(`state = $${params.length}`);
    }
    if (opts.requestedBy) {
      params.push(opts.requestedBy);
      where.push(`requested_by = $${params.length}`);
    }
    if (opts.after) {
      params.push(opts.after.createdAt, opts.after.id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(opts.limit + 1);
    const { rows } = await this.db.query<IntentRow>(
      `SELECT * FROM wf_intents ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, opts.limit).map(fromRow);
    const last = items[items.length - 1];
    return rows.length > opts.limit && last
      ? { items, next: { createdAt: last.createdAt.toISOString(), id: last.id } }
      : { items };
  }

  async countByState(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ state: string; n: string | number }>(
      'SELECT state, count(*) AS n FROM wf_intents GROUP BY state',
    );
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Intents whose expiry passed while still before signing (for the expiry sweeper). */
  async expiredCandidates(now: Date, limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM wf_intents
       WHERE state IN ('requested', 'pending_approval', 'approved', 'delayed', 'building', 'signing')
         AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
      [now.toISOString(), limit],
    );
    return rows.map((r) => r.id);
  }
}

export async function insertHistory(
  tx: Queryable,
  id: string,
  seq: number,
  from: IntentState | null,
  to: IntentState,
  event: string,
  actor: string,
  at: Date,
  details: Record<string, unknown>,
): Promise<void> {
  await tx.query(
    `INSERT INTO wf_transitions (intent_id, seq, from_state, to_state, event, actor, at, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
    [id, seq, from, to, event, actor, at.toISOString(), JSON.stringify(details)],
  );
}
