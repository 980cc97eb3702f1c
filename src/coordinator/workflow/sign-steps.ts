import type { SignatureResult, SignRequest, TxPayload } from '../../core/auth/index.ts';
import { pushTo } from '../../core/collections.ts';
import type { TransitionItem } from '../../store/workflow/intents-batch.ts';
import type { OutboxItem } from '../../store/workflow/outbox.ts';
import { enqueueManyInTx } from '../../store/workflow/queue.ts';
import type { SignOutcome } from '../cosigner-client.ts';
import {
  type Claimed,
  intentOf,
  JOB,
  nextJob,
  type StepContext,
  type StepOutcome,
  SYSTEM,
  stepTransaction,
  UNSIGNED,
} from './engine.ts';

const BROADCAST = 'broadcast';
type Outcomes = Map<string, StepOutcome>;
type Refusal = { code: string; message: string; details: Record<string, unknown> };

/**
 * Asks every co-signer of each intent's wallet that has not answered yet — all the batch's
 * intents for one co-signer in ONE authenticated request, the co-signers in parallel — with the
 * request recorded in the outbox before it is sent (a resumed step sends the same bytes). A
 * refusal by any co-signer fails its intent (each refusal raises its own critical alert); a
 * co-signer that cannot be reached makes that intent's job retry with backoff — the ones that
 * already signed are not asked again, and the one that was down gets the very same request when it
 * returns (its own ledger refuses a different transaction for this intent).
 */
export async function signMany(ctx: StepContext, claimed: Claimed[], now: Date): Promise<Outcomes> {
  const out: Outcomes = new Map();
  const live = claimed.filter((c) => c.rec.state === 'signing');
  if (live.length === 0) return out;
  const ids = live.map((c) => c.rec.id);
  const [view, approvals] = await Promise.all([ctx.outboxes.view(ids), ctx.approvals.listMany(ids)]);
  const refused = new Map<string, Refusal>();
  const unavailable = new Map<string, { code: string; message: string }>();
  const fails: TransitionItem[] = [];
  // Per co-signer: the (intent, request) pairs still to ask.
  const asks = new Map<string, { c: Claimed; req: SignRequest }[]>();
  for (const c of live) {
    const { rec } = c;
    const wallet = ctx.wallets.get(rec.wallet);
    const unsigned = view.get(rec.id)?.get(UNSIGNED);
    if (!wallet || !unsigned) {
      fails.push({
        id: rec.id,
        events: wallet
          ? ctx.failEvents('OUTBOX_MISSING', 'no unsigned transaction recorded for a signing intent')
          : ctx.failEvents('UNKNOWN_WALLET', 'no wallet route for this intent'),
      });
      continue;
    }
    const fresh: SignRequest = {
      intent: JSON.parse(rec.intentJson),
      requesterSignature: rec.signature,
      approvals: (approvals.get(rec.id) ?? []).map((a) => a.approval),
      tx: unsigned.content as TxPayload,
    };
    for (const cosignerId of wallet.cosigners) {
      const existing = view.get(rec.id)?.get(`sign:${cosignerId}`);
      if (existing?.status === 'done') continue;
      if (existing?.status === 'failed') {
        const r = existing.result as { code?: string; message?: string } | null;
        refused.set(rec.id, {
          code: r?.code ?? 'COSIGNER_REFUSED',
          message: r?.message ?? 'refused',
          details: { cosigner: cosignerId },
        });
        continue;
      }
      if (!ctx.cosigners.has(cosignerId)) {
        refused.set(rec.id, {
          code: 'COSIGNER_UNKNOWN',
          message: `co-signer ${cosignerId} is not configured`,
          details: {},
        });
        continue;
      }
      // Resume with the recorded request if there is one; otherwise record it before sending.
      const req = existing ? (existing.content as SignRequest) : fresh;
      pushTo(asks, cosignerId, { c, req });
    }
  }
  // Record every request (counting an attempt) in one statement before anything is sent.
  const flat = [...asks.entries()].flatMap(([cosignerId, list]) => list.map((a) => ({ cosignerId, ...a })));
  const recorded = await ctx.outboxes.recordMany<SignRequest>(
    flat.map((a) => ({ intentId: a.c.rec.id, step: `sign:${a.cosignerId}`, content: a.req })),
    now,
    { attempt: true },
  );
  const sendable = new Map<string, { c: Claimed; req: SignRequest }[]>();
  for (const [i, a] of flat.entries()) {
    const r = recorded[i]!;
    if (!r.ok) {
      const refusal = { code: r.code, message: r.message, details: r.details ?? {} };
      refused.set(a.c.rec.id, refusal);
      await ctx.alerts.raise({ severity: 'critical', subject: `intent:${a.c.rec.id}`, ...refusal }, now);
      continue;
    }
    if (refused.has(a.c.rec.id)) continue;
    pushTo(sendable, a.cosignerId, { c: a.c, req: r.value.content });
  }
  const answers = await Promise.all(
    [...sendable.entries()].map(async ([cosignerId, list]) => {
      const port = ctx.cosigners.get(cosignerId)!;
      const t0 = performance.now();
      const reqs = list.map((a) => a.req);
      const outcomes = port.signMany
        ? await port.signMany(reqs)
        : await Promise.all(reqs.map((r) => port.sign(r)));
      const seconds = (performance.now() - t0) / 1000;
      for (let i = 0; i < list.length; i++) ctx.metrics?.cosignerSeconds(cosignerId, seconds);
      return { cosignerId, list, outcomes };
    }),
  );
  const later = ctx.clock();
  const settles: { intentId: string; step: string; status: 'done' | 'failed'; result: unknown }[] = [];
  const alerts: Parameters<typeof ctx.alerts.raise>[0][] = [];
  for (const { cosignerId, list, outcomes } of answers) {
    list.forEach(({ c }, i) => {
      const o: SignOutcome = outcomes[i] ?? {
        kind: 'unavailable',
        code: 'COSIGNER_BAD_RESPONSE',
        message: 'no answer for this item',
      };
      const step = `sign:${cosignerId}`;
      if (o.kind === 'unavailable') {
        unavailable.set(c.rec.id, { code: o.code, message: o.message });
        return;
      }
      if (o.kind === 'signed') {
        settles.push({ intentId: c.rec.id, step, status: 'done', result: o.response.result });
        return;
      }
      ctx.metrics?.cosignerRefusal(cosignerId, o.code);
      settles.push({ intentId: c.rec.id, step, status: 'failed', result: o });
      const details = { cosigner: cosignerId, code: o.code, step: o.step, message: o.message };
      refused.set(c.rec.id, {
        code: o.code,
        message: `co-signer ${cosignerId} refused: ${o.message}`,
        details,
      });
      alerts.push({
        severity: 'critical',
        code: 'COSIGNER_REFUSED',
        subject: `intent:${c.rec.id}`,
        message: `co-signer ${cosignerId} refused: ${o.code}`,
        details,
      });
    });
  }
  for (const [id, r] of refused) fails.push({ id, events: ctx.failEvents(r.code, r.message, r.details) });
  const failedIds = new Set(fails.map((f) => f.id));
  await stepTransaction(ctx, async (tx, handoffs) => {
    await ctx.outboxes.settleMany(settles, later, tx);
    for (const a of alerts) await ctx.alerts.raise(a, later, tx);
    const { rows } = await tx.query<{ intent_id: string; n: string | number }>(
      `SELECT intent_id, count(*) AS n FROM wf_outbox
       WHERE intent_id = ANY($1::uuid[]) AND step LIKE 'sign:%' AND status = 'done' GROUP BY intent_id`,
      [ids],
    );
    const signedCount = new Map(rows.map((r) => [r.intent_id, Number(r.n)]));
    const moves: TransitionItem[] = [...fails];
    for (const { rec } of live) {
      if (failedIds.has(rec.id)) continue;
      const wallet = ctx.wallets.get(rec.wallet)!;
      if ((signedCount.get(rec.id) ?? 0) < wallet.threshold) continue;
      moves.push({
        id: rec.id,
        events: [
          {
            event: 'signed',
            actor: SYSTEM,
            enqueue: [
              nextJob(ctx.fold, {
                kind: JOB.broadcast,
                payload: { intentId: rec.id },
                dedupKey: `broadcast:${rec.id}`,
                maxAttempts: 1000,
              }),
            ],
          },
        ],
      });
    }
    await ctx.batch.transitionManyInTx(tx, moves, later, handoffs, 'refusals');
    // Their steps are over (one refused, or enough signatures): a co-signer still down for one
    // that reached its threshold is no reason to run the step again.
    return moves.map((m) => m.id);
  });
  if (fails.length > 0)
    await ctx.wakeNextBuilds(live.filter((c) => failedIds.has(c.rec.id)).map((c) => c.rec.wallet));
  for (const c of live) {
    const down = unavailable.get(c.rec.id);
    if (down && !failedIds.has(c.rec.id)) out.set(c.job.id, { kind: 'retry', ...down });
  }
  return out;
}

/**
 * Assembles each signed transaction once (the first one recorded is the only one ever broadcast
 * for its intent), sends them, and schedules their confirmation checks.
 */
export async function broadcastMany(ctx: StepContext, claimed: Claimed[], now: Date): Promise<Outcomes> {
  const out: Outcomes = new Map();
  const live = claimed.filter((c) => c.rec.state === 'broadcast');
  if (live.length === 0) return out;
  const view = await ctx.outboxes.view(live.map((c) => c.rec.id));
  const fails: TransitionItem[] = [];
  const toRecord: OutboxItem<{ raw: string; txHash: string }>[] = [];
  const sendable: Claimed[] = [];
  await Promise.all(
    live.map(async (c) => {
      const { rec } = c;
      const chain = ctx.chains.get(rec.chain);
      const wallet = ctx.wallets.get(rec.wallet);
      if (!chain || !wallet) {
        fails.push({
          id: rec.id,
          events: ctx.failEvents('CHAIN_UNAVAILABLE', `no broadcaster for ${rec.chain}`),
        });
        return;
      }
      const entries = view.get(rec.id);
      const existing = entries?.get(BROADCAST);
      if (existing?.status === 'done') return;
      if (existing) {
        toRecord.push({
          intentId: rec.id,
          step: BROADCAST,
          content: existing.content as { raw: string; txHash: string },
        });
        sendable.push(c);
        return;
      }
      const sigs: SignatureResult[] = [];
      for (const id of wallet.cosigners) {
        const s = entries?.get(`sign:${id}`);
        if (s?.status === 'done' && s.result) sigs.push(s.result as SignatureResult);
      }
      try {
        const signed = await chain.finalize(
          intentOf(rec),
          entries!.get(UNSIGNED)!.content as TxPayload,
          sigs.slice(0, wallet.threshold),
        );
        toRecord.push({ intentId: rec.id, step: BROADCAST, content: signed });
        sendable.push(c);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        fails.push({ id: rec.id, events: ctx.failEvents('FINALIZE_FAILED', message) });
      }
    }),
  );
  if (fails.length > 0) {
    await ctx.db.transaction((tx) => ctx.batch.transitionManyInTx(tx, fails, now, undefined, 'refusals'));
    await ctx.wakeNextBuilds(
      live.filter((c) => fails.some((f) => f.id === c.rec.id)).map((c) => c.rec.wallet),
    );
  }
  // First recorded signed transaction wins; every attempt is counted before sending.
  const byId = new Map(sendable.map((c) => [c.rec.id, c]));
  const recorded = await ctx.outboxes.recordMany(toRecord, now, { attempt: true });
  const sent: { intentId: string; step: string; status: 'done'; result: unknown }[] = [];
  await Promise.all(
    recorded.map(async (r, i) => {
      const c = byId.get(toRecord[i]!.intentId)!;
      if (!r.ok) {
        out.set(c.job.id, { kind: 'retry', code: r.code, message: r.message });
        return;
      }
      await ctx.fault?.('before-broadcast', c.rec);
      try {
        await ctx.chains.get(c.rec.chain)!.broadcast(r.value.content.raw);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        out.set(c.job.id, { kind: 'retry', code: 'BROADCAST_FAILED', message });
        return;
      }
      await ctx.fault?.('after-broadcast', c.rec);
      sent.push({
        intentId: c.rec.id,
        step: BROADCAST,
        status: 'done',
        result: { txHash: r.value.content.txHash },
      });
    }),
  );
  const confirmIds = live
    .filter((c) => !out.has(c.job.id) && !fails.some((f) => f.id === c.rec.id))
    .map((c) => c.rec.id);
  await stepTransaction(ctx, async (tx) => {
    await ctx.outboxes.settleMany(sent, ctx.clock(), tx);
    await enqueueManyInTx(
      tx,
      confirmIds.map((id) => ({
        kind: JOB.confirm,
        payload: { intentId: id },
        dedupKey: `confirm:${id}`,
        maxAttempts: 100_000,
      })),
      now,
    );
    return confirmIds;
  });
  return out;
}

/** Reads the outcome of each broadcast transaction (one batched request per chain when offered). */
export async function confirmMany(ctx: StepContext, claimed: Claimed[], now: Date): Promise<Outcomes> {
  const out: Outcomes = new Map();
  const live = claimed.filter((c) => c.rec.state === 'broadcast');
  if (live.length === 0) return out;
  const view = await ctx.outboxes.view(
    live.map((c) => c.rec.id),
    undefined,
    [BROADCAST],
  );
  const byChain = new Map<string, { c: Claimed; txHash: string }[]>();
  for (const c of live) {
    const entry = view.get(c.rec.id)?.get(BROADCAST);
    if (!entry || !ctx.chains.get(c.rec.chain)) continue;
    pushTo(byChain, c.rec.chain, { c, txHash: (entry.content as { txHash: string }).txHash });
  }
  const later: StepOutcome = { kind: 'snooze', until: new Date(now.getTime() + (ctx.confirmPollMs ?? 2000)) };
  const pending: { jobId: string; chainId: string; readAt: number }[] = [];
  // Decided last, just before the worker settles them: a block seen since its read began may hold
  // what it reported pending, and that block's wake could not reach these claimed jobs, so they
  // look again at once rather than after the poll.
  const settlePending = () => {
    for (const p of pending)
      out.set(
        p.jobId,
        (ctx.lastBlockAt(p.chainId) ?? Number.NEGATIVE_INFINITY) >= p.readAt
          ? { kind: 'snooze', until: ctx.clock() }
          : later,
      );
    return out;
  };
  const moves: TransitionItem[] = [];
  const alerts: Parameters<typeof ctx.alerts.raise>[0][] = [];
  for (const [chainId, list] of byChain) {
    const chain = ctx.chains.get(chainId)!;
    const hashes = list.map((l) => l.txHash);
    const readAt = ctx.clock().getTime();
    const status = chain.statusMany
      ? await chain.statusMany(hashes).catch(() => new Map<string, 'pending'>())
      : new Map(
          await Promise.all(
            hashes.map(async (h) => [h, await chain.status(h).catch(() => 'pending' as const)] as const),
          ),
        );
    for (const { c, txHash } of list) {
      const s = status.get(txHash) ?? 'pending';
      if (s === 'pending') pending.push({ jobId: c.job.id, chainId, readAt });
      else if (s === 'confirmed')
        moves.push({
          id: c.rec.id,
          events: [{ event: 'confirmed', actor: 'watchtower', details: { txHash } }],
        });
      else {
        alerts.push({
          severity: 'critical',
          code: 'TX_FAILED',
          subject: `intent:${c.rec.id}`,
          message: 'transaction failed on chain',
          details: { txHash },
        });
        moves.push({
          id: c.rec.id,
          events: ctx.failEvents('TX_FAILED', 'transaction reverted or was replaced', { txHash }),
        });
      }
    }
  }
  if (moves.length === 0) return settlePending();
  await stepTransaction(ctx, async (tx) => {
    for (const a of alerts) await ctx.alerts.raise(a, now, tx);
    await ctx.batch.transitionManyInTx(tx, moves, now, undefined, 'refusals');
    return moves.map((m) => m.id);
  });
  const moved = new Set(moves.map((m) => m.id));
  await ctx.wakeNextBuilds(live.filter((c) => moved.has(c.rec.id)).map((c) => c.rec.wallet));
  return settlePending();
}
