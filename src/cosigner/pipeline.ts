import type { KeyObject } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { type Refusal, type SignResponse, signRequestSchema } from '../core/auth/cosigner-api.ts';
import { bodyDigest, type IncomingRequest, verifySignedRequest } from '../core/auth/request.ts';
import { canonicalJsonBytes } from '../core/encoding/canonical-json.ts';
import { parseStrictJson } from '../core/encoding/strict-json.ts';
import { CustosError } from '../core/errors/base.ts';
import { type Intent, intentDigestHex, parseIntent } from '../core/intent/index.ts';
import type { Secp256k1Signer } from '../keys/backend.ts';
import { advisoryXactLock, type Db, type Queryable } from '../store/db.ts';
import type { CosignerChecks, PolicyOutcome, TrustState } from './checks.ts';
import {
  findSigned,
  findSpends,
  LedgerCache,
  pruneNonces,
  recordNonce,
  recordSigned,
  SIGN_LOCK,
} from './ledger.ts';
import { appendRefusal } from './refusal-log.ts';
import { signVerified } from './sign-result.ts';

/**
 * `POST /v1/sign`: the co-signer's verification pipeline (I1). In order:
 *   1 auth       signed request (core/auth), nonce recorded atomically (replay)
 *   2 parse      strict JSON (duplicate keys refused), strict envelope, parseIntent
 *   3 requester  requester's signature on the intent digest
 *   4 policy     bundle policy + address book + THIS co-signer's ledger; block → refuse;
 *                approve → approvals against the requirement; the delay since createdAt
 *   5 chain      the unsigned transaction, decoded here, does exactly what the intent says
 *   6 ledger     I8 check + velocity re-check + record, in ONE transaction with
 *   7 sign       the signature: nothing leaves this process unless that transaction committed.
 * Any failure is a typed refusal, appended to the hash-chained refusal log (I5, I6).
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

export type SignOutcome = { status: number; body: SignResponse | Refusal };

const STATUS: Record<string, number> = { auth: 401, parse: 400, ledger: 409, sign: 500, internal: 500 };

class Refused extends Error {
  constructor(
    readonly step: string,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function refuse(
  step: string,
  r: { code: string; message: string; details?: Record<string, unknown> },
): never {
  throw new Refused(step, r.code, r.message, r.details);
}

let pruneCounter = 0;
const caches = new WeakMap<Db, LedgerCache>();
const unauthenticated = new WeakMap<Db, number>();

/** Requests refused before their signature verified (not logged, see below). */
export function unauthenticatedRefusals(db: Db): number {
  return unauthenticated.get(db) ?? 0;
}

export async function handleSign(deps: PipelineDeps, req: IncomingRequest): Promise<SignOutcome> {
  const nowMs = deps.now();
  const nowIso = new Date(nowMs).toISOString();
  const requestDigest = bytesToHex(bodyDigest(req.body));
  let intent: Intent | undefined;
  try {
    // 1. Authenticate the caller (coordinator) before looking at the body.
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

    // 2. Parse strictly: the bytes the coordinator signed are the bytes we interpret.
    let body: ReturnType<typeof signRequestSchema.parse>;
    try {
      const parsed = signRequestSchema.safeParse(
        parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(req.body), 'request'),
      );
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        refuse('parse', {
          code: issue.code === 'unrecognized_keys' ? 'UNKNOWN_FIELD' : 'MALFORMED_REQUEST',
          message: `${issue.path.join('.')}: ${issue.message}`,
        });
      }
      body = parsed.data;
      intent = parseIntent(body.intent);
    } catch (e) {
      if (e instanceof Refused) throw e;
      if (e instanceof CustosError)
        refuse('parse', { code: e.code, message: e.shortMessage, details: e.details });
      refuse('parse', { code: 'MALFORMED_REQUEST', message: 'request body is not UTF-8 JSON' });
    }
    const trust = deps.trust();
    if (!trust) refuse('trust', { code: 'NO_TRUST_BUNDLE', message: 'no verified trust bundle yet' });
    const digestHex = intentDigestHex(intent);

    // 3. The requester signed exactly this intent.
    const req3 = deps.checks.verifyRequester(intent, body.requesterSignature, trust, nowIso);
    if (!req3.ok) refuse('requester', req3);
    if (Date.parse(intent.createdAt) > nowMs + (deps.maxFutureSkewMs ?? 300_000))
      refuse('requester', { code: 'INTENT_FROM_FUTURE', message: 'intent createdAt is in the future' });

    // I8 first: an intent this co-signer already signed gets the stored result if the request is
    // byte-for-byte the same (intent digest and tx payload) — a retry, nothing new is signed — and
    // a refusal otherwise, whatever the rest of the request says.
    const txDigest = bytesToHex(sha256(canonicalJsonBytes(body.tx)));
    const earlier = await findSigned(deps.db, intent.id);
    if (earlier) {
      if (earlier.intentDigest === digestHex && earlier.requestTxDigest === txDigest)
        return {
          status: 200,
          body: {
            ok: true,
            cosigner: deps.cosignerId,
            intentId: intent.id,
            repeated: true,
            result: earlier.result,
          },
        };
      refuse('ledger', {
        code: 'LEDGER_INTENT_ALREADY_SIGNED',
        message: 'this co-signer already signed a different transaction for this intent',
        details: { intentId: intent.id, signedTxHash: earlier.txHash },
      });
    }

    // 4. Policy with our own ledger (the velocity index is kept in memory, refreshed by seq).
    let cache = caches.get(deps.db);
    if (!cache) {
      cache = new LedgerCache(deps.ledgerLookbackMs ?? 31 * 86_400_000);
      caches.set(deps.db, cache);
    }
    const ledgerCache = cache;
    const evaluate = async (q: Queryable) => {
      const p = deps.checks.evaluatePolicy(intent!, trust, await ledgerCache.current(q, nowMs), nowIso);
      if (!p.ok) refuse('policy', p);
      return p.value;
    };
    const policy = await evaluate(deps.db);
    checkDecision(deps, policy, intent, body.approvals, trust, nowMs, nowIso);

    // 5. The unsigned transaction, decoded by us, against the intent.
    const v = await deps.checks.verifyTx(intent, body.tx, trust, { now: nowIso });
    if (!v.ok) refuse('chain', v);
    if (v.value.kind !== body.tx.kind)
      refuse('chain', { code: 'TX_KIND_MISMATCH', message: 'verifier returned another transaction kind' });

    // 6 + 7. I8 check, velocity re-check under the lock, sign, record — one transaction.
    const out = await deps.db.transaction(async (tx) => {
      await advisoryXactLock(tx, SIGN_LOCK);
      const prior = await findSigned(tx, intent!.id);
      if (prior) {
        if (
          prior.intentDigest === digestHex &&
          prior.txHash === v.value.txHash &&
          prior.txKind === body.tx.kind
        )
          return { repeated: true, result: prior.result };
        refuse('ledger', {
          code: 'LEDGER_INTENT_ALREADY_SIGNED',
          message: 'this co-signer already signed a different transaction for this intent',
          details: { intentId: intent!.id, signedTxHash: prior.txHash, askedTxHash: v.value.txHash },
        });
      }
      const spent = await findSpends(tx, v.value.spendKeys);
      if (spent.length > 0)
        refuse('ledger', {
          code: 'LEDGER_SPEND_CONFLICT',
          message: 'nonce or UTXO already spent by another signed transaction',
          details: { conflicts: spent },
        });
      // Velocity limits again, now that concurrent signings are serialized by the lock.
      const again = await evaluate(tx);
      // Same decision as before the lock: the approvals and delay were already checked for it.
      if (
        again.decision !== policy.decision ||
        again.delayMs !== policy.delayMs ||
        JSON.stringify(again.requirement) !== JSON.stringify(policy.requirement)
      )
        checkDecision(deps, again, intent!, body.approvals, trust, nowMs, nowIso);
      let result: Awaited<ReturnType<typeof signVerified>>;
      try {
        result = await signVerified(deps.signer, v.value, body.tx);
      } catch (e) {
        refuse('sign', {
          code: e instanceof CustosError ? e.code : 'SIGNING_FAILED',
          message: 'key backend failed to sign',
        });
      }
      await recordSigned(tx, {
        intent: intent!,
        intentDigest: digestHex,
        txKind: body.tx.kind,
        txHash: v.value.txHash,
        requestTxDigest: txDigest,
        spendKeys: v.value.spendKeys,
        result,
        at: nowIso,
      });
      await deps.fault?.('before-commit');
      return { repeated: false, result };
    });
    if (!out.repeated) await deps.fault?.('after-commit');
    return {
      status: 200,
      body: {
        ok: true,
        cosigner: deps.cosignerId,
        intentId: intent.id,
        repeated: out.repeated,
        result: out.result,
      },
    };
  } catch (e) {
    const r =
      e instanceof Refused
        ? e
        : new Refused('internal', 'INTERNAL', 'internal error (refused, nothing signed)', {
            error: e instanceof Error ? e.message.slice(0, 200) : String(e),
          });
    // A request whose signature did not verify is from nobody we know: counting it is enough.
    // Logging it would let anyone who can reach the port grow our database (refusals after the
    // signature check — stale, replayed — are logged: they are someone holding a coordinator key).
    if (r.step === 'auth' && r.code !== 'AUTH_STALE' && r.code !== 'AUTH_REPLAY') {
      unauthenticated.set(deps.db, (unauthenticated.get(deps.db) ?? 0) + 1);
      return { status: 401, body: { ok: false, code: r.code, message: r.message, step: r.step } };
    }
    await appendRefusal(deps.db, {
      at: nowIso,
      code: r.code,
      step: r.step,
      intentId: intent?.id ?? null,
      requestDigest,
      details: r.details ?? {},
    }).catch(() => undefined);
    const body: Refusal = { ok: false, code: r.code, message: r.message, step: r.step };
    if (r.details) body.details = r.details;
    return { status: STATUS[r.step] ?? 403, body };
  }
}

function checkDecision(
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
