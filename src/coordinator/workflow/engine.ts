import type { SignatureResult, SignRequest, TxPayload } from '../../core/auth/index.ts';
import { type Intent, parseIntent } from '../../core/intent/index.ts';
import type { IntentEvent } from '../../core/workflow/states.ts';
import type { Db, Queryable } from '../../store/db.ts';
import type { AlertStore } from '../../store/workflow/alerts.ts';
import type { ApprovalStore } from '../../store/workflow/approvals.ts';
import type { IntentRecord, IntentStore } from '../../store/workflow/intents.ts';
import type { Outbox } from '../../store/workflow/outbox.ts';
import { type EnqueueInput, enqueueInTx, type Job } from '../../store/workflow/queue.ts';
import type { CosignerPort } from '../cosigner-client.ts';
import type { ChainPort, PolicyPort, WalletRoute, WorkflowDecision, WorkflowMetrics } from './ports.ts';

/**
 * The workflow's background steps, one per job kind. Every handler first re-reads the intent and
 * does nothing unless it is in the state the step belongs to, so a job that runs twice (lease
 * expired, process killed after the effect but before completing the job) is harmless; effects
 * outside the database go through the outbox so a rerun repeats the same bytes, never new ones.
 */
export type StepOutcome =
  | { kind: 'done' }
  | { kind: 'retry'; code: string; message: string }
  | { kind: 'snooze'; until: Date };

export const JOB = {
  evaluate: 'evaluate',
  build: 'build',
  sign: 'sign',
  broadcast: 'broadcast',
  confirm: 'confirm',
} as const;

const SYSTEM = 'coordinator';
const DONE: StepOutcome = { kind: 'done' };
const UNSIGNED = 'unsigned_tx';
const BROADCAST = 'broadcast';
/**
 * Safety net of a build waiting for its wallet's slot: wakeNextBuild normally brings the oldest
 * waiter forward, but a wake that lands while the waiter is still writing its own snooze is lost,
 * and then this bounds the delay.
 */
const WALLET_BUSY_RECHECK_MS = 5000;
/** How long a build waits when another build of the same wallet holds the lock right now. */
const BUILD_CONTENDED_MS = 200;

export interface EngineDeps {
  db: Db;
  intents: IntentStore;
  outbox: Outbox;
  approvals: ApprovalStore;
  alerts: AlertStore;
  wallets: { get(id: string): WalletRoute | undefined };
  cosigners: ReadonlyMap<string, CosignerPort>;
  chains: ReadonlyMap<string, ChainPort>;
  policy?: PolicyPort;
  clock: () => Date;
  metrics?: WorkflowMetrics;
  /** Test-only pause points (multi-process crash tests); see config `faultInjection`. */
  fault?: (point: 'before-broadcast' | 'after-broadcast', rec: IntentRecord) => Promise<void>;
  /** How long a build waits while another intent holds the wallet's nonce. */
  walletBusyPollMs?: number;
  /** How long to wait before re-checking a broadcast transaction. */
  confirmPollMs?: number;
}

export const evaluateJob = (intentId: string): EnqueueInput => ({
  kind: JOB.evaluate,
  payload: { intentId },
  dedupKey: `evaluate:${intentId}`,
});

export class WorkflowEngine {
  constructor(private readonly d: EngineDeps) {}

  async handle(job: Job): Promise<StepOutcome> {
    const intentId = String(job.payload.intentId);
    const rec = await this.d.intents.get(intentId);
    if (!rec) return DONE;
    const now = this.d.clock();
    switch (job.kind) {
      case JOB.evaluate:
        return this.evaluate(rec, now);
      case JOB.build:
        return this.build(rec, now);
      case JOB.sign:
        return this.sign(rec, now);
      case JOB.broadcast:
        return this.broadcast(rec, now);
      case JOB.confirm:
        return this.confirm(rec, now);
      default:
        return { kind: 'retry', code: 'UNKNOWN_JOB', message: `no handler for ${job.kind}` };
    }
  }

  /** Moves an intent to `failed` with a typed code (ignored if it already moved on). */
  async failIntent(rec: IntentRecord, code: string, message: string, details?: Record<string, unknown>) {
    const r = await this.d.intents.transition(
      rec.id,
      { event: 'fail', actor: SYSTEM, failure: { code, message, ...(details ? { details } : {}) } },
      this.d.clock(),
    );
    await this.wakeNextBuild(rec.wallet);
    return r;
  }

  /**
   * The wallet's slot is free again (its holder is final): bring the oldest waiting build forward
   * instead of having every waiter poll (which would cost a transaction per waiter per interval).
   */
  async wakeNextBuild(wallet: string): Promise<void> {
    const now = this.d.clock().toISOString();
    await this.d.db.query(
      `UPDATE wf_jobs SET run_at = $2, updated_at = $2
       WHERE status = 'queued' AND kind = 'build' AND dedup_key IN (
         SELECT 'build:' || i.id FROM wf_intents i
         WHERE i.wallet = $1 AND i.state IN ('building', 'delayed')
         ORDER BY i.created_at, i.id LIMIT 1)`,
      [wallet, now],
    );
  }

  private async evaluate(rec: IntentRecord, now: Date): Promise<StepOutcome> {
    if (rec.state !== 'requested') return DONE;
    if (now >= rec.expiresAt) return this.simple(rec, 'expire', now);
    if (!this.d.policy) {
      await this.failIntent(
        rec,
        'POLICY_UNAVAILABLE',
        'no policy engine is configured: refusing (fail closed)',
      );
      return DONE;
    }
    const intent = parseIntent(JSON.parse(rec.intentJson));
    const t0 = performance.now();
    let decision: WorkflowDecision;
    try {
      decision = await this.d.policy.evaluate(intent, now);
    } catch (e) {
      await this.failIntent(rec, 'POLICY_ERROR', e instanceof Error ? e.message : String(e));
      return DONE;
    }
    this.d.metrics?.decisionSeconds((performance.now() - t0) / 1000);
    if (decision.decision === 'block') {
      await this.d.intents.transition(
        rec.id,
        {
          event: 'policy_blocked',
          actor: 'policy',
          decision,
          failure: { code: 'POLICY_BLOCKED', message: decision.reasons.join('; ') || 'blocked by policy' },
        },
        now,
      );
      return DONE;
    }
    if (decision.decision === 'approve') {
      await this.d.intents.transition(
        rec.id,
        { event: 'policy_requires_approval', actor: 'policy', decision },
        now,
      );
      return DONE;
    }
    await this.d.db.transaction(async (tx) => {
      const r = await this.d.intents.transitionInTx(
        tx,
        rec.id,
        { event: 'policy_allowed', actor: 'policy', decision },
        now,
      );
      if (r.ok) await this.afterApprovedInTx(tx, r.value, decision, now);
    });
    return DONE;
  }

  /** approved → delayed (time lock) or building, in the caller's transaction. */
  async afterApprovedInTx(
    tx: Queryable,
    rec: IntentRecord,
    decision: WorkflowDecision,
    now: Date,
  ): Promise<void> {
    const buildJob = (runAt?: Date): EnqueueInput => ({
      kind: JOB.build,
      payload: { intentId: rec.id },
      dedupKey: `build:${rec.id}`,
      ...(runAt ? { runAt } : {}),
    });
    if (decision.delayMs > 0) {
      const notBefore = new Date(now.getTime() + decision.delayMs);
      await this.d.intents.transitionInTx(
        tx,
        rec.id,
        { event: 'delay_started', actor: 'policy', notBefore, enqueue: [buildJob(notBefore)] },
        now,
      );
      return;
    }
    await this.d.intents.transitionInTx(
      tx,
      rec.id,
      { event: 'build_started', actor: SYSTEM, enqueue: [buildJob()] },
      now,
    );
  }

  private async build(rec: IntentRecord, now: Date): Promise<StepOutcome> {
    if (rec.state === 'delayed') {
      if (rec.notBefore && now < rec.notBefore) return { kind: 'snooze', until: rec.notBefore };
      const r = await this.simple(rec, 'delay_elapsed', now);
      if (r.kind !== 'done') return r;
      const again = await this.d.intents.get(rec.id);
      if (!again) return DONE;
      rec = again;
    }
    if (rec.state !== 'building') return DONE;
    if (now >= rec.expiresAt) return this.simple(rec, 'expire', now);
    const wallet = this.d.wallets.get(rec.wallet);
    if (!wallet) {
      await this.failIntent(rec, 'UNKNOWN_WALLET', 'no wallet route for this intent');
      return DONE;
    }
    const chain = this.d.chains.get(rec.chain);
    const existing = await this.d.outbox.get<TxPayload>(rec.id, UNSIGNED);
    if (!existing && !chain) {
      await this.failIntent(
        rec,
        'CHAIN_UNAVAILABLE',
        `no transaction builder for ${rec.chain}: refusing (fail closed)`,
      );
      return DONE;
    }
    // One transaction in flight per wallet. Co-signers sign only the wallet's current nonce (Safe
    // nonce / account nonce) and never two transactions for one nonce (I8): a second intent built
    // while the first is unconfirmed would get the same nonce and be refused. So the wallet's
    // "slot" is taken here, under a per-wallet advisory lock, in the same transaction that
    // freezes the unsigned transaction and moves the intent to signing; it frees itself when the
    // holder reaches a terminal state.
    // Woken by wakeNextBuild when the holder is final; the timer is only a safety net.
    const waitForSlot: StepOutcome = {
      kind: 'snooze',
      until: new Date(now.getTime() + (this.d.walletBusyPollMs ?? WALLET_BUSY_RECHECK_MS)),
    };
    // Cheap look first, without a connection held on the lock: most waiters stop here.
    if (await this.walletBusy(this.d.db, rec)) return waitForSlot;
    const outcome = await this.d.db.transaction(async (tx): Promise<StepOutcome | 'built'> => {
      // Never block a pooled connection on another build of this wallet: if one is building right
      // now it will hold the slot when it commits, so look again shortly.
      const { rows: lock } = await tx.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_xact_lock(1129534292, hashtext($1)) AS ok',
        [`wallet:${rec.wallet}`],
      );
      if (!lock[0]?.ok) return { kind: 'snooze', until: new Date(now.getTime() + BUILD_CONTENDED_MS) };
      if (await this.walletBusy(tx, rec)) return waitForSlot;
      let unsigned = existing;
      if (!unsigned) {
        let payload: TxPayload;
        try {
          payload = await chain!.build(parseIntent(JSON.parse(rec.intentJson)), tx);
        } catch (e) {
          return { kind: 'retry', code: 'BUILD_FAILED', message: e instanceof Error ? e.message : String(e) };
        }
        const recorded = await this.d.outbox.record(rec.id, UNSIGNED, payload, now, tx);
        if (!recorded.ok) return { kind: 'retry', code: recorded.code, message: recorded.message };
        unsigned = recorded.value;
      }
      const r = await this.d.intents.transitionInTx(
        tx,
        rec.id,
        {
          event: 'built',
          actor: SYSTEM,
          details: { txDigest: unsigned.contentDigest },
          enqueue: [
            {
              kind: JOB.sign,
              payload: { intentId: rec.id },
              dedupKey: `sign:${rec.id}`,
              maxAttempts: 10_000,
            },
          ],
        },
        now,
      );
      return r.ok ? 'built' : DONE;
    });
    return outcome === 'built' ? DONE : outcome;
  }

  /** Whether another intent of this wallet holds its slot (built, signing or broadcast). */
  private async walletBusy(q: Queryable, rec: IntentRecord): Promise<boolean> {
    const { rows } = await q.query<{ id: string }>(
      `SELECT i.id FROM wf_intents i
       WHERE i.wallet = $1 AND i.id <> $2
         AND i.state IN ('building', 'signing', 'broadcast')
         AND (i.state IN ('signing', 'broadcast')
              OR (i.state = 'building' AND EXISTS (
                    SELECT 1 FROM wf_outbox o WHERE o.intent_id = i.id AND o.step = 'unsigned_tx')))
       LIMIT 1`,
      [rec.wallet, rec.id],
    );
    return rows.length > 0;
  }

  /** The exact request every co-signer gets for this intent (same bytes on every retry). */
  async signRequest(rec: IntentRecord): Promise<SignRequest | undefined> {
    const unsigned = await this.d.outbox.get<TxPayload>(rec.id, UNSIGNED);
    if (!unsigned) return undefined;
    const approvals = (await this.d.approvals.list(rec.id)).map((a) => a.approval);
    return {
      intent: JSON.parse(rec.intentJson),
      requesterSignature: rec.signature,
      approvals,
      tx: unsigned.content,
    };
  }

  /**
   * Asks every co-signer of the wallet that has not answered yet, in parallel, with the same
   * recorded request. A refusal by any of them fails the intent (each refusal raises its own
   * critical alert); a co-signer that cannot be reached makes the job retry with backoff — the
   * ones that already signed are not asked again, and the one that was down gets the very same
   * request when it returns (its own ledger refuses a different transaction for this intent).
   */
  private async sign(rec: IntentRecord, now: Date): Promise<StepOutcome> {
    if (rec.state !== 'signing') return DONE;
    const wallet = this.d.wallets.get(rec.wallet);
    if (!wallet) {
      await this.failIntent(rec, 'UNKNOWN_WALLET', 'no wallet route for this intent');
      return DONE;
    }
    const fresh = await this.signRequest(rec);
    if (!fresh) {
      await this.failIntent(rec, 'OUTBOX_MISSING', 'no unsigned transaction recorded for a signing intent');
      return DONE;
    }
    const outcomes = await Promise.all(wallet.cosigners.map((c) => this.askOne(rec, c, fresh, now)));
    const refused = outcomes.find((o) => o.kind === 'refused');
    if (refused && refused.kind === 'refused') {
      await this.failIntent(rec, refused.code, refused.message, refused.details);
      return DONE;
    }
    const down = outcomes.find((o) => o.kind === 'unavailable');
    if (down && down.kind === 'unavailable') return { kind: 'retry', code: down.code, message: down.message };
    return this.maybeSigned(rec.id, this.d.clock());
  }

  private async askOne(
    rec: IntentRecord,
    cosignerId: string,
    fresh: SignRequest,
    now: Date,
  ): Promise<
    | { kind: 'done' }
    | { kind: 'refused'; code: string; message: string; details: Record<string, unknown> }
    | { kind: 'unavailable'; code: string; message: string }
  > {
    const step = `sign:${cosignerId}`;
    const existing = await this.d.outbox.get(rec.id, step);
    if (existing?.status === 'done') return { kind: 'done' };
    if (existing?.status === 'failed') {
      const r = existing.result as { code?: string; message?: string } | null;
      return {
        kind: 'refused',
        code: r?.code ?? 'COSIGNER_REFUSED',
        message: r?.message ?? 'refused',
        details: { cosigner: cosignerId },
      };
    }
    const cosigner = this.d.cosigners.get(cosignerId);
    if (!cosigner) {
      return {
        kind: 'refused',
        code: 'COSIGNER_UNKNOWN',
        message: `co-signer ${cosignerId} is not configured`,
        details: {},
      };
    }
    // Resume with the recorded request if there is one; otherwise record it before sending.
    const req = existing ? (existing.content as SignRequest) : fresh;
    const recorded = await this.d.outbox.recordAttempt(rec.id, step, req, now);
    if (!recorded.ok) {
      await this.d.alerts.raise(
        {
          severity: 'critical',
          code: recorded.code,
          subject: `intent:${rec.id}`,
          message: recorded.message,
          details: recorded.details ?? {},
        },
        now,
      );
      return {
        kind: 'refused',
        code: recorded.code,
        message: recorded.message,
        details: recorded.details ?? {},
      };
    }
    const t0 = performance.now();
    const outcome = await cosigner.sign(req);
    this.d.metrics?.cosignerSeconds(cosignerId, (performance.now() - t0) / 1000);
    if (outcome.kind === 'unavailable') return outcome;
    const later = this.d.clock();
    if (outcome.kind === 'refused') {
      this.d.metrics?.cosignerRefusal(cosignerId, outcome.code);
      await this.d.outbox.settle(rec.id, step, 'failed', outcome, later);
      const details = {
        cosigner: cosignerId,
        code: outcome.code,
        step: outcome.step,
        message: outcome.message,
      };
      await this.d.alerts.raise(
        {
          severity: 'critical',
          code: 'COSIGNER_REFUSED',
          subject: `intent:${rec.id}`,
          message: `co-signer ${cosignerId} refused: ${outcome.code}`,
          details,
        },
        later,
      );
      return {
        kind: 'refused',
        code: outcome.code,
        message: `co-signer ${cosignerId} refused: ${outcome.message}`,
        details,
      };
    }
    await this.d.outbox.settle(rec.id, step, 'done', outcome.response.result, later);
    return { kind: 'done' };
  }

  /** Under the intent's row lock: enough signatures → `signed` and the broadcast job. */
  private async maybeSigned(intentId: string, now: Date): Promise<StepOutcome> {
    await this.d.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ state: string; wallet: string }>(
        'SELECT state, wallet FROM wf_intents WHERE id = $1 FOR UPDATE',
        [intentId],
      );
      const row = rows[0];
      if (row?.state !== 'signing') return;
      const wallet = this.d.wallets.get(row.wallet);
      const { rows: done } = await tx.query<{ n: string | number }>(
        "SELECT count(*) AS n FROM wf_outbox WHERE intent_id = $1 AND step LIKE 'sign:%' AND status = 'done'",
        [intentId],
      );
      if (!wallet || Number(done[0]!.n) < wallet.threshold) return;
      await this.d.intents.transitionInTx(
        tx,
        intentId,
        {
          event: 'signed',
          actor: SYSTEM,
          enqueue: [
            {
              kind: JOB.broadcast,
              payload: { intentId },
              dedupKey: `broadcast:${intentId}`,
              maxAttempts: 1000,
            },
          ],
        },
        now,
      );
    });
    return DONE;
  }

  private async broadcast(rec: IntentRecord, now: Date): Promise<StepOutcome> {
    if (rec.state !== 'broadcast') return DONE;
    const chain = this.d.chains.get(rec.chain);
    const wallet = this.d.wallets.get(rec.wallet);
    if (!chain || !wallet) {
      await this.failIntent(rec, 'CHAIN_UNAVAILABLE', `no broadcaster for ${rec.chain}`);
      return DONE;
    }
    let entry = await this.d.outbox.get<{ raw: string; txHash: string }>(rec.id, BROADCAST);
    if (!entry) {
      const unsigned = await this.d.outbox.get<TxPayload>(rec.id, UNSIGNED);
      const sigs: SignatureResult[] = [];
      for (const c of wallet.cosigners) {
        const s = await this.d.outbox.get<unknown, SignatureResult>(rec.id, `sign:${c}`);
        if (s?.status === 'done' && s.result) sigs.push(s.result);
      }
      let signed: { raw: string; txHash: string };
      try {
        signed = await chain.finalize(
          parseIntent(JSON.parse(rec.intentJson)),
          unsigned!.content,
          sigs.slice(0, wallet.threshold),
        );
      } catch (e) {
        await this.failIntent(rec, 'FINALIZE_FAILED', e instanceof Error ? e.message : String(e));
        return DONE;
      }
      // First recorded signed transaction is the only one ever broadcast for this intent.
      await this.d.outbox.record(rec.id, BROADCAST, signed, now);
      entry = await this.d.outbox.get<{ raw: string; txHash: string }>(rec.id, BROADCAST);
    }
    if (entry!.status !== 'done') {
      await this.d.fault?.('before-broadcast', rec);
      await this.d.outbox.attempt(rec.id, BROADCAST, now);
      try {
        await chain.broadcast(entry!.content.raw);
      } catch (e) {
        return {
          kind: 'retry',
          code: 'BROADCAST_FAILED',
          message: e instanceof Error ? e.message : String(e),
        };
      }
      await this.d.fault?.('after-broadcast', rec);
      await this.d.outbox.settle(
        rec.id,
        BROADCAST,
        'done',
        { txHash: entry!.content.txHash },
        this.d.clock(),
      );
    }
    await enqueueInTx(
      this.d.db,
      {
        kind: JOB.confirm,
        payload: { intentId: rec.id },
        dedupKey: `confirm:${rec.id}`,
        maxAttempts: 100_000,
      },
      now,
    );
    return DONE;
  }

  private async confirm(rec: IntentRecord, now: Date): Promise<StepOutcome> {
    if (rec.state !== 'broadcast') return DONE;
    const entry = await this.d.outbox.get<{ raw: string; txHash: string }>(rec.id, BROADCAST);
    const chain = this.d.chains.get(rec.chain);
    if (!entry || !chain) return DONE;
    const s = await chain.status(entry.content.txHash).catch(() => 'pending' as const);
    if (s === 'pending')
      return { kind: 'snooze', until: new Date(now.getTime() + (this.d.confirmPollMs ?? 2000)) };
    if (s === 'failed') {
      await this.d.alerts.raise(
        {
          severity: 'critical',
          code: 'TX_FAILED',
          subject: `intent:${rec.id}`,
          message: 'transaction failed on chain',
          details: { txHash: entry.content.txHash },
        },
        now,
      );
      await this.failIntent(rec, 'TX_FAILED', 'transaction reverted or was replaced', {
        txHash: entry.content.txHash,
      });
      return DONE;
    }
    await this.d.intents.transition(
      rec.id,
      { event: 'confirmed', actor: 'watchtower', details: { txHash: entry.content.txHash } },
      now,
    );
    await this.wakeNextBuild(rec.wallet);
    return DONE;
  }

  private async simple(rec: IntentRecord, event: IntentEvent, now: Date): Promise<StepOutcome> {
    await this.d.intents.transition(rec.id, { event, actor: SYSTEM }, now);
    return DONE;
  }

  /** Expiry sweep: intents past expiresAt that no signature can still be asked for. */
  async expireDue(limit = 100): Promise<number> {
    const now = this.d.clock();
    let n = 0;
    for (const id of await this.d.intents.expiredCandidates(now, limit)) {
      const r = await this.d.intents.transition(id, { event: 'expire', actor: SYSTEM }, now);
      if (r.ok) {
        n++;
        await this.wakeNextBuild(r.value.wallet);
      }
    }
    return n;
  }
}

export type { Intent };
