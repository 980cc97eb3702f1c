import { hexToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../core/encoding/canonical-json.ts';
import { InvalidInputError } from '../core/errors/base.ts';
import { fingerprint, type Intent, intentDigestHex, parseIntent } from '../core/intent/index.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { ApprovalStore } from '../store/workflow/approvals.ts';
import type { CreateExtra, IntentRecord, IntentStore, NewIntent } from '../store/workflow/intents.ts';
import type { Outbox } from '../store/workflow/outbox.ts';
import { ProblemError } from './http/problem.ts';
import { evaluateJob, type WorkflowEngine } from './workflow/engine.ts';
import type {
  ApprovalsPort,
  ChainPort,
  CounterStore,
  SignatureVerifier,
  VerifyResult,
  WalletRoute,
  WorkflowDecision,
} from './workflow/ports.ts';

/** Codes that mean "who you are may not do this" (403) rather than "not proven who you are" (401). */
const FORBIDDEN = new Set([
  'NOT_REQUESTER',
  'REQUESTER_MISMATCH',
  'REVOKED_PRINCIPAL',
  'REVOKED_CREDENTIAL',
  'FORBIDDEN_ROLE',
  'NOT_APPROVER',
  'SELF_APPROVAL',
]);

function refuse(r: Extract<VerifyResult, { ok: false }>, field: string): never {
  const status =
    r.code === 'INTENT_EXPIRED' || r.code === 'APPROVAL_EXPIRED' ? 422 : FORBIDDEN.has(r.code) ? 403 : 401;
  throw new ProblemError(status, r.code, r.message, { field, ...(r.details ? { details: r.details } : {}) });
}

export interface IntentServiceDeps {
  db: Db;
  intents: IntentStore;
  approvals: ApprovalStore;
  outbox: Outbox;
  engine: WorkflowEngine;
  wallets: { get(id: string): WalletRoute | undefined };
  chains: ReadonlyMap<string, ChainPort>;
  verifier?: SignatureVerifier;
  approvalsPort?: ApprovalsPort;
  /** WebAuthn signature counters (PrincipalStore); without it counters are not tracked. */
  counters?: CounterStore;
  clock: () => Date;
  /** Called after work was enqueued (wakes the local worker). */
  poke?: () => void;
}

/** A verified submission, ready to be written (see IntentService.prepare). */
export interface PreparedIntent {
  intent: NewIntent;
}

/** The transport-independent operations behind the intents API. */
export class IntentService {
  constructor(private readonly d: IntentServiceDeps) {}

  /**
   * Moves the credential's WebAuthn signature counter forward, or refuses the call. The pure
   * verifier skips counters (co-signers re-verify old assertions), so a replayed assertion or a
   * cloned authenticator is caught here: a non-zero signCount not above the stored one is refused
   * (WebAuthn L3 §6.1.1); zero means the authenticator does not count and is accepted.
   */
  private async recordCounter(
    v: { credentialId?: string; signCount?: number },
    field: string,
    tx?: Queryable,
  ): Promise<void> {
    if (!this.d.counters || v.signCount === undefined || !v.credentialId) return;
    const r = await this.d.counters.recordCounter(v.credentialId, v.signCount, tx);
    if (!r.ok) {
      throw new ProblemError(
        409,
        'WEBAUTHN_COUNTER_REPLAY',
        'authenticator signature counter did not increase: replayed assertion or cloned authenticator',
        { field, details: { credentialId: v.credentialId, signCount: v.signCount } },
      );
    }
  }

  parse(input: unknown): Intent {
    try {
      return parseIntent(input);
    } catch (e) {
      if (e instanceof InvalidInputError) {
        throw new ProblemError(400, e.code, e.shortMessage, {
          field: `/body/intent/${e.field.replaceAll('.', '/')}`,
        });
      }
      throw e;
    }
  }

  /**
   * Creates the intent. `inTx` runs inside the creating transaction (the API stores the
   * idempotent response there, so both commit together).
   */
  async submit(
    rawIntent: unknown,
    signature: unknown,
    inTx?: (tx: Queryable, record: IntentRecord) => Promise<void>,
  ): Promise<{ status: 201; record: IntentRecord }> {
    const r = await this.create(await this.prepare(rawIntent, signature), inTx ? { inTx } : {});
    if (!r.record) throw new Error('unreachable: no Idempotency-Key record was written');
    return { status: 201, record: r.record };
  }

  /**
   * Everything before the write: strict parse, wallet route, requester signature (and WebAuthn
   * counter). Throws the API problem on refusal; the result is what {@link create} writes.
   */
  async prepare(rawIntent: unknown, signature: unknown): Promise<PreparedIntent> {
    const now = this.d.clock();
    const intent = this.parse(rawIntent);
    const wallet = this.d.wallets.get(intent.wallet);
    if (!wallet)
      throw new ProblemError(422, 'UNKNOWN_WALLET', 'no such wallet', { field: '/body/intent/wallet' });
    if (wallet.chain !== intent.chain) {
      throw new ProblemError(422, 'WALLET_CHAIN_MISMATCH', 'the wallet is on another chain', {
        field: '/body/intent/chain',
      });
    }
    if (!this.d.verifier) {
      throw new ProblemError(
        503,
        'VERIFIER_UNAVAILABLE',
        'signature verification is not configured: refusing',
      );
    }
    const v = this.d.verifier.requester(intent, signature, now);
    if (!v.ok) refuse(v, '/body/signature');
    // Its own transaction, before the intent is created (the intent store opens its own): a
    // counter moved forward by a submission that then turns out a duplicate only ever moves forward.
    await this.recordCounter(v.value, '/body/signature');
    return {
      intent: {
        id: intent.id,
        digest: intentDigestHex(intent),
        intentJson: canonicalJson(intent),
        signature,
        requestedBy: intent.requestedBy,
        wallet: intent.wallet,
        chain: intent.chain,
        expiresAt: new Date(intent.expiresAt),
      },
    };
  }

  /**
   * Writes a prepared intent with its evaluation job (and, with `idempotency`, the API's key
   * record in the same statement). `{ record: undefined }`: that key is already recorded and
   * nothing was written. A duplicate id or digest is a 409 DUPLICATE_INTENT problem.
   */
  async create(
    p: PreparedIntent,
    extra: Pick<CreateExtra, 'inTx' | 'idempotency'> = {},
  ): Promise<{ record: IntentRecord | undefined }> {
    const r = await this.d.intents.create(p.intent, this.d.clock(), {
      enqueue: [evaluateJob(p.intent.id)],
      ...extra,
    });
    if (!r.ok) {
      if (r.code === 'IDEMPOTENCY_KEY_TAKEN') return { record: undefined };
      throw new ProblemError(409, r.code, r.message, { field: '/body/intent/id' });
    }
    this.d.poke?.();
    return { record: r.value };
  }

  async get(id: string): Promise<IntentRecord> {
    const rec = await this.d.intents.get(id);
    if (!rec) throw new ProblemError(404, 'INTENT_NOT_FOUND', 'no such intent', { field: '/params/id' });
    return rec;
  }

  async cancel(id: string, signature: unknown): Promise<IntentRecord> {
    const rec = await this.get(id);
    if (!this.d.verifier)
      throw new ProblemError(503, 'VERIFIER_UNAVAILABLE', 'signature verification is not configured');
    const intent = parseIntent(JSON.parse(rec.intentJson));
    const v = this.d.verifier.cancel(intent, signature, this.d.clock());
    if (!v.ok) refuse(v, '/body/signature');
    const r = await this.d.intents.transition(
      id,
      { event: 'cancel', actor: v.value.principal, expectVersion: undefined },
      this.d.clock(),
    );
    if (!r.ok) throw new ProblemError(409, 'NOT_CANCELLABLE', `intent is ${rec.state}: too late to cancel`);
    return r.value;
  }

  /** Records one approver decision; quorum met → approved (then time lock or build). */
  async approve(id: string, approval: unknown): Promise<{ record: IntentRecord; approvers: string[] }> {
    const rec = await this.get(id);
    if (rec.state !== 'pending_approval') {
      throw new ProblemError(409, 'NOT_PENDING_APPROVAL', `intent is ${rec.state}, not pending approval`);
    }
    const port = this.d.approvalsPort;
    if (!port) throw new ProblemError(503, 'VERIFIER_UNAVAILABLE', 'approval verification is not configured');
    const decision = rec.decision as WorkflowDecision | null;
    const requirement = decision?.quorum;
    if (!decision || !requirement) {
      throw new ProblemError(
        409,
        'NO_APPROVAL_REQUIREMENT',
        'the policy decision names no approval requirement',
      );
    }
    const intent = parseIntent(JSON.parse(rec.intentJson));
    const now = this.d.clock();
    const one = port.verifyOne(intent, approval, requirement, now);
    if (!one.ok) refuse(one, '/body');
    const result = await this.d.db.transaction(async (tx) => {
      // Same transaction as the approval: a refused counter rolls everything back.
      await this.recordCounter(one, '/body', tx);
      const added = await this.d.approvals.add(
        id,
        { principal: one.principal!, credentialId: one.credentialId!, decision: one.decision!, approval },
        now,
        tx,
      );
      if (!added)
        throw new ProblemError(409, 'ALREADY_DECIDED', 'this approver already decided on this intent');
      if (one.decision === 'reject') {
        const r = await this.d.intents.transitionInTx(
          tx,
          id,
          {
            event: 'approval_rejected',
            actor: one.principal!,
            failure: { code: 'REJECTED', message: `rejected by ${one.principal}` },
          },
          now,
        );
        if (!r.ok) throw new ProblemError(409, r.code, r.message);
        return { record: r.value, approvers: [] };
      }
      const all = (await this.d.approvals.list(id, tx)).map((a) => a.approval);
      const quorum = port.verifyAll(intent, all, requirement, now);
      if (!quorum.ok) {
        const current = await this.d.intents.get(id, tx);
        return { record: current!, approvers: [] };
      }
      const r = await this.d.intents.transitionInTx(
        tx,
        id,
        { event: 'quorum_met', actor: one.principal!, details: { approvers: quorum.approvers } },
        now,
      );
      if (!r.ok) throw new ProblemError(409, r.code, r.message);
      await this.d.engine.afterApprovedInTx(tx, r.value, decision, now);
      return { record: (await this.d.intents.get(id, tx))!, approvers: quorum.approvers };
    });
    this.d.poke?.();
    return result;
  }

  /** The API view of an intent. */
  view(rec: IntentRecord): Record<string, unknown> {
    return {
      id: rec.id,
      digest: rec.digest,
      fingerprint: fingerprint(hexToBytes(rec.digest)),
      state: rec.state,
      version: rec.version,
      intent: JSON.parse(rec.intentJson),
      requestedBy: rec.requestedBy,
      wallet: rec.wallet,
      chain: rec.chain,
      decision: rec.decision ?? null,
      failure: rec.failure ?? null,
      notBefore: rec.notBefore?.toISOString() ?? null,
      expiresAt: rec.expiresAt.toISOString(),
      createdAt: rec.createdAt.toISOString(),
      updatedAt: rec.updatedAt.toISOString(),
    };
  }

  /**
   * `JSON.stringify(this.view(rec))` without parsing the stored intent back into objects: its
   * canonical JSON (RFC 8785, written by {@link prepare}) is spliced in as it is, which is the same
   * JSON value (the 201 body of every new intent; test/coordinator/http/view-json.test.ts).
   */
  viewJson(rec: IntentRecord): string {
    const head = JSON.stringify({
      id: rec.id,
      digest: rec.digest,
      fingerprint: fingerprint(hexToBytes(rec.digest)),
      state: rec.state,
      version: rec.version,
    });
    const tail = JSON.stringify({
      requestedBy: rec.requestedBy,
      wallet: rec.wallet,
      chain: rec.chain,
      decision: rec.decision ?? null,
      failure: rec.failure ?? null,
      notBefore: rec.notBefore?.toISOString() ?? null,
      expiresAt: rec.expiresAt.toISOString(),
      createdAt: rec.createdAt.toISOString(),
      updatedAt: rec.updatedAt.toISOString(),
    });
    return `${head.slice(0, -1)},"intent":${rec.intentJson},${tail.slice(1)}`;
  }

  /** The detailed view: history, approvals, the unsigned transaction (decoded), signatures, broadcast. */
  async detail(rec: IntentRecord): Promise<Record<string, unknown>> {
    const [history, approvals, outbox] = await Promise.all([
      this.d.intents.history(rec.id),
      this.d.approvals.list(rec.id),
      this.d.outbox.list(rec.id),
    ]);
    const unsigned = outbox.find((o) => o.step === 'unsigned_tx');
    const chain = this.d.chains.get(rec.chain);
    let decoded: unknown = null;
    if (unsigned && chain?.decode) {
      try {
        decoded = chain.decode(unsigned.content as never);
      } catch (e) {
        decoded = { error: e instanceof Error ? e.message : String(e) };
      }
    }
    return {
      ...this.view(rec),
      history: history.map((h) => ({ ...h, at: h.at.toISOString() })),
      approvals: approvals.map((a) => ({
        principal: a.principal,
        decision: a.decision,
        receivedAt: a.receivedAt.toISOString(),
      })),
      transaction: unsigned ? { digest: unsigned.contentDigest, unsigned: unsigned.content, decoded } : null,
      signatures: outbox
        .filter((o) => o.step.startsWith('sign:'))
        .map((o) => ({
          cosigner: o.step.slice(5),
          status: o.status,
          attempts: o.attempts,
          result: o.result,
        })),
      broadcast: outbox.find((o) => o.step === 'broadcast')?.content ?? null,
    };
  }
}
