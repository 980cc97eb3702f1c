import { bytesToHex } from '@noble/hashes/utils.js';
import type { Refusal, SignResponse } from '../core/auth/cosigner-api.ts';
import { bodyDigest, type IncomingRequest } from '../core/auth/request.ts';
import type { Intent } from '../core/intent/index.ts';
import { findSigned } from './ledger.ts';
import { commitItems } from './pipeline-commit.ts';
import {
  asRefused,
  authenticate,
  countIfUnauthenticated,
  judgeItem,
  ledgerCacheOf,
  logRefusals,
  type PipelineDeps,
  parseItem,
  parseJsonBody,
  type RequestContext,
  refusalBody,
} from './pipeline-steps.ts';

export { type PipelineDeps, unauthenticatedRefusals } from './pipeline-steps.ts';

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
 * Steps 1–5 live in pipeline-steps.ts and 6–7 in pipeline-commit.ts, shared with the batch
 * endpoint (pipeline-batch.ts), which runs exactly the same steps per item.
 */
export type SignOutcome = { status: number; body: SignResponse | Refusal };

export const REFUSAL_STATUS: Record<string, number> = {
  auth: 401,
  parse: 400,
  ledger: 409,
  sign: 500,
  internal: 500,
};

export async function handleSign(deps: PipelineDeps, req: IncomingRequest): Promise<SignOutcome> {
  const nowMs = deps.now();
  const nowIso = new Date(nowMs).toISOString();
  let intent: Intent | undefined;
  try {
    await authenticate(deps, req, nowMs);
    const parsed = parseItem(parseJsonBody(req.body));
    intent = parsed.intent;
    const ctx: RequestContext = {
      nowMs,
      nowIso,
      earlier: (id) => findSigned(deps.db, id),
      ledger: () => ledgerCacheOf(deps).current(deps.db, nowMs),
      chainMemo: new Map(),
    };
    const judged = await judgeItem(deps, ctx, parsed.body, parsed.intent);
    let out: { repeated: boolean; result: SignResponse['result'] };
    if (judged.kind === 'repeated') out = { repeated: true, result: judged.result };
    else {
      const [committed] = await commitItems(deps, [judged.item], nowMs, nowIso);
      if (!committed?.ok) throw committed?.refused;
      out = committed;
    }
    return {
      status: 200,
      body: {
        ok: true,
        cosigner: deps.cosignerId,
        intentId: parsed.intent.id,
        repeated: out.repeated,
        result: out.result,
      },
    };
  } catch (e) {
    return refusalOutcome(deps, req, nowIso, asRefused(e), intent?.id ?? null);
  }
}

/** A refusal as an HTTP answer, logged unless it came from nobody we know (see countIfUnauthenticated). */
export async function refusalOutcome(
  deps: PipelineDeps,
  req: IncomingRequest,
  nowIso: string,
  r: ReturnType<typeof asRefused>,
  intentId: string | null,
): Promise<{ status: number; body: Refusal }> {
  if (countIfUnauthenticated(deps.db, r))
    return { status: 401, body: { ok: false, code: r.code, message: r.message, step: r.step } };
  await logRefusals(deps, nowIso, bytesToHex(bodyDigest(req.body)), [{ r, intentId }]);
  return { status: REFUSAL_STATUS[r.step] ?? 403, body: refusalBody(r) };
}
