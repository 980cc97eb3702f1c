import { CustosError, fail, ok, type Result } from '../../core/errors/base.ts';
import {
  type IntentState,
  isIntentState,
  nextState,
  type TransitionCode,
} from '../../core/workflow/states.ts';
import type { Queryable } from '../db.ts';
import type { AuditAppender, AuditEntryInput } from './audit-port.ts';
import {
  fromRow,
  type IntentRecord,
  type IntentRow,
  type TransitionInput,
  type TransitionResult,
} from './intents.ts';
import { type EnqueueInput, enqueueManyInTx, type Job } from './queue.ts';

/** One intent's events, applied in order (e.g. `policy_allowed` then `build_started`). */
export interface TransitionItem {
  id: string;
  events: TransitionInput[];
}

/**
 * Transitions of many intents in one transaction and a fixed number of statements, whatever the
 * batch size: the rows are locked (in id order, so two batches never deadlock), every event is
 * checked against the state machine in memory, and the new states, history rows, next jobs and
 * audit entries are written with one multi-row statement each. Per intent it is all or nothing: an
 * illegal event (the intent moved on meanwhile) leaves that intent untouched and comes back as its
 * typed result; the others proceed. Same guarantees as IntentStore.transitionInTx, batched.
 */
export class IntentBatch {
  constructor(private readonly audit: AuditAppender) {}

  async transitionManyInTx(
    tx: Queryable,
    items: readonly TransitionItem[],
    now: Date,
    /** Receives the next jobs inserted already claimed (EnqueueInput.claim). */
    claimed?: Job[],
    /**
     * `refusals`: return only the intents that were refused, not the moved intents' records (a
     * caller that does not read them saves reading back every row).
     */
    returning: 'records' | 'refusals' = 'records',
  ): Promise<Map<string, TransitionResult>> {
    const results = new Map<string, TransitionResult>();
    if (items.length === 0) return results;
    const ids = items.map((i) => i.id);
    if (new Set(ids).size !== ids.length)
      throw new CustosError('DUPLICATE_TRANSITION', 'one intent appears twice in a transition batch');
    // Only what the state machine and the audit entries need: id, digest, state, version.
    const { rows } = await tx.query<LockedRow>(
      'SELECT id, digest, state, version FROM wf_intents WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
      [[...ids].sort()],
    );
    const current = new Map(rows.map((r) => [r.id, lockedRow(r)]));
    const at = now.toISOString();
    const upd = new Updates();
    const hist: HistoryRow[] = [];
    const jobs: EnqueueInput[] = [];
    const audit: AuditEntryInput[] = [];
    for (const item of items) {
      const cur = current.get(item.id);
      if (!cur) {
        results.set(item.id, fail('NOT_FOUND', 'no such intent', { id: item.id }));
        continue;
      }
      const planned = plan(cur, item.events);
      if (!planned.ok) {
        results.set(item.id, planned);
        continue;
      }
      upd.add(planned.value.record);
      for (const h of planned.value.history) hist.push(h);
      for (const e of item.events) for (const j of e.enqueue ?? []) jobs.push(j);
      for (const h of planned.value.history)
        audit.push({
          kind: `intent.${h.to}`,
          actor: h.actor,
          subject: `intent:${cur.id}`,
          body: { digest: cur.digest, from: h.from, to: h.to, event: h.event, ...h.details },
        });
    }
    if (upd.size === 0) return results;
    const { rows: updated } = await tx.query<IntentRow>(
      `UPDATE wf_intents AS i SET state = u.state, version = u.version, updated_at = $10,
         decision = CASE WHEN u.dec_set THEN u.decision::jsonb ELSE i.decision END,
         failure = CASE WHEN u.fail_set THEN u.failure::jsonb ELSE i.failure END,
         not_before = CASE WHEN u.nb_set THEN u.not_before ELSE i.not_before END
       FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bool[], $5::text[], $6::bool[], $7::text[],
                   $8::bool[], $9::timestamptz[])
         AS u(id, state, version, dec_set, decision, fail_set, failure, nb_set, not_before)
       WHERE i.id = u.id
       ${returning === 'records' ? 'RETURNING i.*' : ''}`,
      [...upd.columns(), at],
    );
    await tx.query(
      `INSERT INTO wf_transitions (intent_id, seq, from_state, to_state, event, actor, at, details)
       SELECT id, seq, from_state, to_state, event, actor, $7, details::jsonb
       FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[])
         AS h(id, seq, from_state, to_state, event, actor, details)`,
      [
        hist.map((h) => h.id),
        hist.map((h) => h.seq),
        hist.map((h) => h.from),
        hist.map((h) => h.to),
        hist.map((h) => h.event),
        hist.map((h) => h.actor),
        at,
        hist.map((h) => JSON.stringify(h.details)),
      ],
    );
    const mine = await enqueueManyInTx(tx, jobs, now);
    if (claimed) for (const j of mine) claimed.push(j);
    // Last before COMMIT (see IntentStore.create).
    await (this.audit.stageInTx ? this.audit.stageInTx(tx, audit) : this.audit.appendInTx(tx, audit));
    if (returning === 'records') for (const r of updated) results.set(r.id, ok(fromRow(r)));
    return results;
  }
}

/** The locked row: what {@link plan} and the audit entries read. */
interface LockedRow {
  id: string;
  digest: string;
  state: string;
  version: number;
}

/** The locked row as the state machine's input (the columns it does not read left empty). */
function lockedRow(r: LockedRow): Locked {
  if (!isIntentState(r.state)) {
    // A row in a state this code does not know was written by something else: refuse to act on it.
    throw new CustosError('UNKNOWN_INTENT_STATE', 'intent row has an unknown state', {
      details: { id: r.id, state: r.state },
    });
  }
  return {
    id: r.id,
    digest: r.digest,
    state: r.state,
    version: Number(r.version),
    decision: undefined,
    failure: null,
    notBefore: null,
  };
}

type Locked = Pick<
  IntentRecord,
  'id' | 'digest' | 'state' | 'version' | 'decision' | 'failure' | 'notBefore'
>;

interface HistoryRow {
  id: string;
  seq: number;
  from: IntentState;
  to: IntentState;
  event: string;
  actor: string;
  details: Record<string, unknown>;
}

interface Planned {
  record: Locked & { decisionSet: boolean; failureSet: boolean; notBeforeSet: boolean };
  history: HistoryRow[];
}

/** The events applied to one intent in memory; the first illegal one refuses them all. */
function plan(
  cur: Locked,
  events: readonly TransitionInput[],
): Result<Planned, TransitionCode | 'VERSION_CONFLICT'> {
  const record = { ...cur, decisionSet: false, failureSet: false, notBeforeSet: false };
  const history: HistoryRow[] = [];
  for (const input of events) {
    if (input.expectVersion !== undefined && input.expectVersion !== record.version)
      return fail('VERSION_CONFLICT', 'the intent changed since it was read', {
        id: cur.id,
        expected: input.expectVersion,
        actual: record.version,
      });
    const step = nextState(record.state, input.event);
    if (!step.ok) return step;
    const from = record.state;
    record.state = step.value;
    record.version += 1;
    if (input.decision !== undefined) {
      record.decision = input.decision;
      record.decisionSet = true;
    }
    if (input.failure !== undefined) {
      record.failure = input.failure;
      record.failureSet = true;
    }
    if (input.notBefore !== undefined) {
      record.notBefore = input.notBefore;
      record.notBeforeSet = true;
    }
    history.push({
      id: cur.id,
      seq: record.version,
      from,
      to: record.state,
      event: input.event,
      actor: input.actor,
      details: { ...(input.details ?? {}), ...(input.failure ? { failure: input.failure } : {}) },
    });
  }
  return ok({ record, history });
}

/** Column arrays for the UPDATE … FROM unnest(…) above. */
class Updates {
  private readonly rows: Planned['record'][] = [];
  get size(): number {
    return this.rows.length;
  }
  add(r: Planned['record']): void {
    this.rows.push(r);
  }
  columns(): unknown[] {
    const r = this.rows;
    return [
      r.map((x) => x.id),
      r.map((x) => x.state),
      r.map((x) => x.version),
      r.map((x) => x.decisionSet),
      r.map((x) => (x.decisionSet && x.decision != null ? JSON.stringify(x.decision) : null)),
      r.map((x) => x.failureSet),
      r.map((x) => (x.failureSet && x.failure != null ? JSON.stringify(x.failure) : null)),
      r.map((x) => x.notBeforeSet),
      r.map((x) => (x.notBeforeSet && x.notBefore ? x.notBefore.toISOString() : null)),
    ];
  }
}
