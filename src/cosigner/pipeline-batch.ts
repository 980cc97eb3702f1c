import { bytesToHex } from '@noble/hashes/utils.js';
import {
  MAX_SIGN_BATCH,
  type Refusal,
  type SignBatchResponse,
  type SignResponse,
  signBatchEnvelopeSchema,
} from '../core/auth/cosigner-api.ts';
import { bodyDigest, type IncomingRequest } from '../core/auth/request.ts';
import type { LedgerIndex } from '../core/policy/ledger.ts';
import { findSignedMany, type LedgerRow } from './ledger.ts';
import { refusalOutcome } from './pipeline.ts';
import { commitItems } from './pipeline-commit.ts';
import {
  asRefused,
  authenticate,
  judgeItem,
  ledgerCacheOf,
  logRefusals,
  type PipelineDeps,
  type Prepared,
  parseItem,
  parseJsonBody,
  type Refused,
  type RequestContext,
  refusalBody,
  refuse,
  refuseSchema,
} from './pipeline-steps.ts';

/**
 * `POST /v1/sign-batch`: many sign requests in one authenticated round trip, for throughput (the
 * per-request costs — signature check, nonce insert, ledger transaction, chain reads — are paid
 * once per batch instead of once per intent).
 *
 * The request is authenticated once (one nonce). A problem with the whole request (auth, body not
 * strict JSON, envelope, more than MAX_SIGN_BATCH items) is ONE refusal with the usual status.
 * Otherwise the answer is 200 with one outcome per item, in order: each item goes through exactly
 * the steps `/v1/sign` runs (pipeline-steps.ts), a refusal of one item never affects another and
 * is appended to the refusal log (all of a batch's refusals in one append). The items that pass
 * are committed together in ONE ledger transaction (pipeline-commit.ts), in item order, with I8
 * and the velocity limits applied across the batch too.
 */
export type SignBatchOutcome = { status: number; body: SignBatchResponse | Refusal };

type Slot =
  | { state: 'refused'; refused: Refused; intentId: string | null }
  | { state: 'done'; intentId: string; repeated: boolean; result: SignResponse['result'] }
  | { state: 'parsed'; parsed: ReturnType<typeof parseItem> }
  | { state: 'prepared'; item: Prepared };

export async function handleSignBatch(deps: PipelineDeps, req: IncomingRequest): Promise<SignBatchOutcome> {
  const nowMs = deps.now();
  const nowIso = new Date(nowMs).toISOString();
  let raw: unknown[];
  try {
    await authenticate(deps, req, nowMs);
    const envelope = signBatchEnvelopeSchema.safeParse(parseJsonBody(req.body));
    if (!envelope.success) {
      const issue = envelope.error.issues[0]!;
      if (issue.code === 'too_big' && issue.path.join('.') === 'items')
        refuse('parse', {
          code: 'BATCH_TOO_LARGE',
          message: `at most ${MAX_SIGN_BATCH} items per batch`,
          details: { max: MAX_SIGN_BATCH },
        });
      refuseSchema(issue);
    }
    raw = envelope.data.items;
  } catch (e) {
    return refusalOutcome(deps, req, nowIso, asRefused(e), null);
  }

  // Steps 2b–5 per item; the ledger rows of all intents are read with one statement.
  const slots: Slot[] = raw.map((json) => {
    try {
      return { state: 'parsed', parsed: parseItem(json) };
    } catch (e) {
      return { state: 'refused', refused: asRefused(e), intentId: null };
    }
  });
  const ids = slots.flatMap((s) => (s.state === 'parsed' ? [s.parsed.intent.id] : []));
  let earlierRows: Promise<Map<string, LedgerRow>> | undefined;
  let ledger: Promise<LedgerIndex> | undefined;
  const ctx: RequestContext = {
    nowMs,
    nowIso,
    earlier: async (id) => {
      earlierRows ??= findSignedMany(deps.db, ids);
      return (await earlierRows).get(id);
    },
    ledger: () => {
      ledger ??= ledgerCacheOf(deps).current(deps.db, nowMs);
      return ledger;
    },
    chainMemo: new Map(),
  };
  await Promise.all(
    slots.map(async (s, k) => {
      if (s.state !== 'parsed') return;
      const { body, intent } = s.parsed;
      try {
        const j = await judgeItem(deps, ctx, body, intent);
        slots[k] =
          j.kind === 'repeated'
            ? { state: 'done', intentId: intent.id, repeated: true, result: j.result }
            : { state: 'prepared', item: j.item };
      } catch (e) {
        slots[k] = { state: 'refused', refused: asRefused(e), intentId: intent.id };
      }
    }),
  );

  // Steps 6 + 7: one transaction for every item that passed. If it fails as a whole (rolled back),
  // none of them is signed.
  const prepared = slots.flatMap((s, k) => (s.state === 'prepared' ? [{ k, item: s.item }] : []));
  try {
    const committed = await commitItems(
      deps,
      prepared.map((p) => p.item),
      nowMs,
      nowIso,
    );
    prepared.forEach(({ k, item }, n) => {
      const c = committed[n]!;
      slots[k] = c.ok
        ? { state: 'done', intentId: item.intent.id, repeated: c.repeated, result: c.result }
        : { state: 'refused', refused: c.refused, intentId: item.intent.id };
    });
  } catch (e) {
    const r = asRefused(e);
    for (const { k, item } of prepared) slots[k] = { state: 'refused', refused: r, intentId: item.intent.id };
  }

  const refusals = slots.flatMap((s) =>
    s.state === 'refused' ? [{ r: s.refused, intentId: s.intentId }] : [],
  );
  if (refusals.length > 0) await logRefusals(deps, nowIso, bytesToHex(bodyDigest(req.body)), refusals);
  const results = slots.map((s): SignResponse | Refusal => {
    if (s.state === 'done')
      return {
        ok: true,
        cosigner: deps.cosignerId,
        intentId: s.intentId,
        repeated: s.repeated,
        result: s.result,
      };
    if (s.state === 'refused') return refusalBody(s.refused);
    // Unreachable: every slot ends done or refused. Fail closed all the same.
    return { ok: false, code: 'INTERNAL', message: 'item not judged', step: 'internal' };
  });
  return { status: 200, body: { ok: true, cosigner: deps.cosignerId, results } };
}
