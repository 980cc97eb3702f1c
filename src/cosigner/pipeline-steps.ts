import { hash, type KeyObject } from 'node:crypto';
import {
  type Refusal,
  type SignatureResult,
  type SignRequest,
  signRequestSchema,
} from '../core/auth/cosigner-api.ts';
import { type IncomingRequest, verifySignedRequest } from '../core/auth/request.ts';
import { canonicalJson } from '../core/encoding/canonical-json.ts';
import { parseStrictJson } from '../core/encoding/strict-json.ts';
import { CustosError } from '../core/errors/base.ts';
import { type Intent, intentDigestHex, parseIntent } from '../core/intent/index.ts';
import type { LedgerIndex } from '../core/policy/ledger.ts';
import type { Secp256k1Signer } from '../keys/backend.ts';
import type { Db } from '../store/db.ts';
import type { CosignerChecks, PolicyOutcome, TrustState, VerifiedTx } from './checks.ts';
import { LedgerCache, type LedgerRow, pruneNonces, recordNonce } from './ledger.ts';
import { appendRefusals } from './refusal-log.ts';

/**
 * The per-item steps shared by `POST /v1/sign` (pipeline.ts) and `POST /v1/sign-batch`
 * (pipeline-batch.ts): authentication, strict parsing, requester, I8 pre-check, policy with
 * approvals and delay, and the chain verifier. The ledger transaction is in pipeline-commit.ts.
 * Every step refuses by throwing `Refused` (typed code and step), caught per item by the caller.
 */
export interface PipelineDeps {
  db: Db;
  signer: Secp256k1Signer;
  checks: CosignerChecks;
  /** The latest trust bundle this co-signer verified, if any. */
  trust(): TrustState | undefined;
  cosignerId: string;
  /** Coordinator request keys by key id (from config). */
  requestKey(keyId: string): KeyObject | undefined;
  /** Unix ms (the clock is injected so tests can move it). */
  now(): number;
  replayWindowMs?: number;
  /** How far back the velocity ledger is loaded (longest limit window). Default 31 days. */
  ledgerLookbackMs?: number;
  /** Largest allowed createdAt skew into the future. Default 5 min. */
  maxFutureSkewMs?: number;
  /** Test-only fault injection point (crash tests); absent in production. */
  fault?: (point: 'before-commit' | 'after-commit') => Promise<void>;
}

export class Refused extends Error {
  constructor(
    readonly step: string,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function refuse(
  step: string,
  r: { code: string; message: string; details?: Record<string, unknown> },
): never {
  throw new Refused(step, r.code, r.message, r.details);
}

/** Anything that is not a typed refusal is an internal error: refused, nothing signed (I6). */
export function asRefused(e: unknown): Refused {
  return e instanceof Refused
    ? e
    : new Refused('internal', 'INTERNAL', 'internal error (refused, nothing signed)', {
        error: e instanceof Error ? e.message.slice(0, 200) : String(e),
      });
}

export function refusalBody(r: Refused): Refusal {
  const body: Refusal = { ok: false, code: r.code, message: r.message, step: r.step };
  if (r.details) body.details = r.details;
  return body;
}

const caches = new WeakMap<Db, LedgerCache>();
const unauthenticated = new WeakMap<Db, number>();
let pruneCounter = 0;

/** The velocity index kept in memory for this database (refreshed by seq, see ledger.ts). */
export function ledgerCacheOf(deps: PipelineDeps): LedgerCache {
  let cache = caches.get(deps.db);
  if (!cache) {
    cache = new LedgerCache(deps.ledgerLookbackMs ?? 31 * 86_400_000);
    caches.set(deps.db, cache);
  }
  return cache;
}

/** Requests refused before their signature verified (not logged, see below). */
export function unauthenticatedRefusals(db: Db): number {
  return unauthenticated.get(db) ?? 0;
}

/**
 * A request whose signature did not verify is from nobody we know: counting it is enough.
 * Logging it would let anyone who can reach the port grow our database (refusals after the
 * signature check — stale, replayed — are logged: they are someone holding a coordinator key).
 * Returns true when the refusal was only counted.
 */
export function countIfUnauthenticated(db: Db, r: Refused): boolean {
  if (r.step !== 'auth' || r.code === 'AUTH_STALE' || r.code === 'AUTH_REPLAY') return false;
  unauthenticated.set(db, (unauthenticated.get(db) ?? 0) + 1);
  return true;
}

/** Appends refusals to the hash-chained log (I5); a log failure never turns a refusal into a signature. */
export async function logRefusals(
  deps: PipelineDeps,
  nowIso: string,
  requestDigest: string,
  refusals: readonly { r: Refused; intentId: string | null }[],
): Promise<void> {
  await appendRefusals(
    deps.db,
    refusals.map(({ r, intentId }) => ({
      at: nowIso,
      code: r.code,
      step: r.step,
      intentId,
      requestDigest,
      details: r.details ?? {},
    })),
  ).catch(() => undefined);
}

/** Step 1: the caller (coordinator) signed this exact request, and its nonce is new (replay). */
export async function authenticate(deps: PipelineDeps, req: IncomingRequest, nowMs: number): Promise<void> {
  const auth = verifySignedRequest(req, {
    audience: deps.cosignerId,
    resolveKey: deps.requestKey,
    nowMs,
    windowMs: deps.replayWindowMs,
  });
  if (!auth.ok) refuse('auth', auth);
  if (!(await recordNonce(deps.db, auth.value.keyId, auth.value.nonce, nowMs)))
    refuse('auth', { code: 'AUTH_REPLAY', message: 'request nonce already used' });
  if (++pruneCounter % 256 === 0)
    await pruneNonces(deps.db, nowMs - 2 * (deps.replayWindowMs ?? 30_000) - 60_000);
}

/** Step 2a: the bytes the coordinator signed, as strict JSON (duplicate keys refused). */
export function parseJsonBody(body: Uint8Array): unknown {
  try {
    return parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(body), 'request');
  } catch (e) {
    if (e instanceof CustosError)
      refuse('parse', { code: e.code, message: e.shortMessage, details: e.details });
    refuse('parse', { code: 'MALFORMED_REQUEST', message: 'request body is not UTF-8 JSON' });
  }
}

/** Zod issue → parse refusal (an unknown field is named as such: it is never ignored). */
export function refuseSchema(issue: { code: string; path: PropertyKey[]; message: string }): never {
  refuse('parse', {
    code: issue.code === 'unrecognized_keys' ? 'UNKNOWN_FIELD' : 'MALFORMED_REQUEST',
    message: `${issue.path.map(String).join('.')}: ${issue.message}`,
  });
}

/** Step 2b: one sign request, strictly, and its intent. */
export function parseItem(json: unknown): { body: SignRequest; intent: Intent } {
  const parsed = signRequestSchema.safeParse(json);
  if (!parsed.success) refuseSchema(parsed.error.issues[0]!);
  try {
    return { body: parsed.data, intent: parseIntent(parsed.data.intent) };
  } catch (e) {
    if (e instanceof CustosError)
      refuse('parse', { code: e.code, message: e.shortMessage, details: e.details });
    refuse('parse', { code: 'MALFORMED_REQUEST', message: 'intent is malformed' });
  }
}

/** What one request (single or batch) shares between its items; fresh for every request. */
export interface RequestContext {
  nowMs: number;
  nowIso: string;
  /** The ledger row of an intent signed before (I8 pre-check; the commit checks again). */
  earlier(intentId: string): Promise<LedgerRow | undefined>;
  /** The velocity index before this request (the commit re-checks under the lock). */
  ledger(): Promise<LedgerIndex>;
  /** Per-request memo for chain reads (one Safe state read per Safe per request, never reused). */
  chainMemo: Map<string, Promise<unknown>>;
}

/** An item that passed every step before the ledger transaction. */
export interface Prepared {
  intent: Intent;
  body: SignRequest;
  trust: TrustState;
  digestHex: string;
  /** SHA-256 of the JCS of the request's tx payload (byte-identical retry detection). */
  txDigest: string;
  policy: PolicyOutcome;
  verified: VerifiedTx;
}

export type Judged = { kind: 'repeated'; result: SignatureResult } | { kind: 'prepared'; item: Prepared };

/** Steps 3–5 for one parsed item. */
export async function judgeItem(
  deps: PipelineDeps,
  ctx: RequestContext,
  body: SignRequest,
  intent: Intent,
): Promise<Judged> {
  const trust = deps.trust();
  if (!trust) refuse('trust', { code: 'NO_TRUST_BUNDLE', message: 'no verified trust bundle yet' });
  const digestHex = intentDigestHex(intent);

  // 3. The requester signed exactly this intent.
  const req3 = deps.checks.verifyRequester(intent, body.requesterSignature, trust, ctx.nowIso);
  if (!req3.ok) refuse('requester', req3);
  if (Date.parse(intent.createdAt) > ctx.nowMs + (deps.maxFutureSkewMs ?? 300_000))
    refuse('requester', { code: 'INTENT_FROM_FUTURE', message: 'intent createdAt is in the future' });

  // I8 first: an intent this co-signer already signed gets the stored result if the request is
  // byte-for-byte the same (intent digest and tx payload) — a retry, nothing new is signed — and
  // a refusal otherwise, whatever the rest of the request says.
  const txDigest = hash('sha256', canonicalJson(body.tx), 'hex');
  const earlier = await ctx.earlier(intent.id);
  if (earlier) {
    if (earlier.intentDigest === digestHex && earlier.requestTxDigest === txDigest)
      return { kind: 'repeated', result: earlier.result };
    refuse('ledger', {
      code: 'LEDGER_INTENT_ALREADY_SIGNED',
      message: 'this co-signer already signed a different transaction for this intent',
      details: { intentId: intent.id, signedTxHash: earlier.txHash },
    });
  }

  // 4. Policy with our own ledger (the velocity index is kept in memory, refreshed by seq).
  const p = deps.checks.evaluatePolicy(intent, trust, await ctx.ledger(), ctx.nowIso);
  if (!p.ok) refuse('policy', p);
  checkDecision(deps, p.value, intent, body.approvals, trust, ctx.nowMs, ctx.nowIso);

  // 5. The unsigned transaction, decoded by us, against the intent.
  const v = await deps.checks.verifyTx(intent, body.tx, trust, { now: ctx.nowIso, memo: ctx.chainMemo });
  if (!v.ok) refuse('chain', v);
  if (v.value.kind !== body.tx.kind)
    refuse('chain', { code: 'TX_KIND_MISMATCH', message: 'verifier returned another transaction kind' });
  return {
    kind: 'prepared',
    item: { intent, body, trust, digestHex, txDigest, policy: p.value, verified: v.value },
  };
}

export function checkDecision(
  deps: PipelineDeps,
  policy: PolicyOutcome,
  intent: Intent,
  approvals: readonly unknown[],
  trust: TrustState,
  nowMs: number,
  nowIso: string,
): void {
  if (policy.decision === 'block')
    refuse('policy', {
      code: 'POLICY_BLOCKED',
      message: 'policy blocks this intent',
      details: { rule: policy.rule, reasons: policy.reasons },
    });
  if (policy.decision === 'approve') {
    if (!policy.requirement)
      refuse('policy', { code: 'POLICY_INVALID', message: 'approve without a requirement' });
    const a = deps.checks.verifyApprovals(intent, approvals, policy.requirement, trust, nowIso);
    if (!a.ok) refuse('approvals', a);
  }
  // The cancellation delay, measured from the requester-signed creation time (the co-signer has
  // no view of when the quorum was reached; the coordinator enforces the delay from that point).
  const readyAt = Date.parse(intent.createdAt) + policy.delayMs;
  if (nowMs < readyAt)
    refuse('policy', {
      code: 'DELAY_NOT_ELAPSED',
      message: 'policy delay has not elapsed',
      details: { retryAfterMs: readyAt - nowMs },
    });
}
