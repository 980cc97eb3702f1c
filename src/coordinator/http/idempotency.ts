import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../../store/db.ts';
import type { NewKeyRecord } from '../../store/workflow/create-intent.ts';
import type { IdempotencyStore } from '../../store/workflow/idempotency.ts';
import { ProblemError, toProblem } from './problem.ts';

/** RFC draft-ietf-httpapi-idempotency-key-header: a client-chosen opaque string. */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

export function requireIdempotencyKey(req: FastifyRequest): string {
  const key = req.headers['idempotency-key'];
  if (key === undefined) {
    throw new ProblemError(400, 'IDEMPOTENCY_KEY_REQUIRED', 'every POST needs an Idempotency-Key header', {
      field: '/headers/idempotency-key',
    });
  }
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_RE.test(key)) {
    throw new ProblemError(
      400,
      'INVALID_IDEMPOTENCY_KEY',
      'Idempotency-Key must be 1-255 visible ASCII characters',
      {
        field: '/headers/idempotency-key',
      },
    );
  }
  return key;
}

/** Request fingerprint: SHA-256 (node:crypto, native) of method, path and the exact body bytes. */
export function requestHash(req: FastifyRequest): string {
  const raw = (req as FastifyRequest & { rawBody?: string }).rawBody ?? '';
  return createHash('sha256').update(`${req.method}\n${req.url}\n${raw}`, 'utf8').digest('hex');
}

/** How long a first request holds its key before a retry may take it over (its process died). */
const LEASE_MS = 60_000;

/**
 * The key record a creating operation writes itself, in its own single statement, already
 * answered with `statusCode` and the response `serialize` returns (the exact bytes then sent).
 * Same fields as {@link idempotent} claims (see {@link idempotentCreate}).
 */
export function answeredKey(
  req: FastifyRequest,
  principal: string,
  now: Date,
  statusCode: number,
  serialize: NewKeyRecord['response'],
): NewKeyRecord {
  return {
    principal,
    key: requireIdempotencyKey(req),
    method: req.method,
    path: req.url,
    requestHash: requestHash(req),
    leaseUntil: new Date(now.getTime() + LEASE_MS),
    statusCode,
    response: serialize,
  };
}

/** Codes after which a retry may legitimately succeed: the key is released, not pinned. */
const RELEASE = new Set(['VERIFIER_UNAVAILABLE', 'RATE_LIMITED']);

/**
 * Runs `fn` at most once per (principal, Idempotency-Key): same key and same request → the
 * stored response again (with `Idempotency-Replayed: true`); same key, different request → 409
 * IDEMPOTENCY_KEY_REUSED; first request still running → 409 IDEMPOTENCY_KEY_IN_FLIGHT.
 * Deterministic 4xx outcomes are stored like successes; 5xx and authentication failures release
 * the key (a retry with a valid signature must not be pinned to an earlier refusal, and a
 * forged claim to someone's principal must not occupy their key).
 */
/**
 * Handed to the operation: stores its response inside the operation's own transaction, so the
 * effect and the stored response commit together (a crash between them cannot leave a created
 * intent behind a key whose retry then runs again). The operation then returns `finished: true`.
 */
export type FinishInTx = (tx: Queryable, status: number, body: unknown) => Promise<void>;

export async function idempotent(
  store: IdempotencyStore,
  req: FastifyRequest,
  reply: FastifyReply,
  principal: string,
  now: Date,
  fn: (finishInTx: FinishInTx) => Promise<{ status: number; body: unknown; finished?: boolean }>,
): Promise<FastifyReply> {
  const key = requireIdempotencyKey(req);
  const path = req.routeOptions.url ?? req.url;
  const begun = await store.begin({
    principal,
    key,
    method: req.method,
    path: req.url,
    requestHash: requestHash(req),
    now,
    leaseMs: LEASE_MS,
  });
  if (begun.kind === 'mismatch') {
    throw new ProblemError(
      409,
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was used with a different request',
      {
        field: '/headers/idempotency-key',
        details: { route: path },
      },
    );
  }
  if (begun.kind === 'in_flight') {
    reply.header('retry-after', '1');
    throw new ProblemError(
      409,
      'IDEMPOTENCY_KEY_IN_FLIGHT',
      'the first request with this key is still running',
      {
        field: '/headers/idempotency-key',
      },
    );
  }
  if (begun.kind === 'replay') {
    const body = begun.response as { code?: unknown } | null;
    reply.header('idempotency-replayed', 'true');
    if (begun.statusCode >= 400) {
      reply.type('application/problem+json');
      if (typeof body?.code === 'string') req.problemCode = body.code;
    }
    return reply.code(begun.statusCode).send(body);
  }
  let result: { status: number; body: unknown; finished?: boolean };
  try {
    result = await fn((tx, status, body) => store.finish(principal, key, status, body, tx));
  } catch (e) {
    const p = toProblem(e, req.url);
    if (p.status >= 500 || p.status === 401 || RELEASE.has(p.code)) await store.release(principal, key);
    else await store.finish(principal, key, p.status, p);
    throw e;
  }
  if (!result.finished) await store.finish(principal, key, result.status, result.body);
  return reply.code(result.status).send(result.body);
}

/**
 * {@link idempotent} for an operation that can write its own key record together with its effect
 * in one statement (POST /v1/intents: one round trip instead of a claim, a transaction and a
 * finish). Same outcomes for the client:
 *  - `prepare` runs first (parse, signature; no write to the key);
 *  - `fast` writes effect and answered key at once and returns the exact response bytes, or
 *    `undefined` when it wrote nothing because the key is already recorded or the effect exists;
 *  - then, or when `prepare` refused, the classic path decides from the key's record: replay,
 *    IDEMPOTENCY_KEY_REUSED, in flight; a key still free (or retaken after its lease) runs `slow`
 *    (or the refusal) under the claimed key and stores its outcome as {@link idempotent} does.
 * An error thrown by `fast` itself wrote nothing (one statement), so there is no key to release.
 */
export async function idempotentCreate<P>(
  store: IdempotencyStore,
  req: FastifyRequest,
  reply: FastifyReply,
  principal: string,
  now: Date,
  ops: {
    prepare: () => Promise<P>;
    fast: (prepared: P) => Promise<{ status: number; json: string } | undefined>;
    slow: (
      prepared: P,
      finishInTx: FinishInTx,
    ) => Promise<{ status: number; body: unknown; finished?: boolean }>;
  },
): Promise<FastifyReply> {
  requireIdempotencyKey(req);
  let prepared: { ok: true; value: P } | { ok: false; error: unknown };
  try {
    prepared = { ok: true, value: await ops.prepare() };
  } catch (error) {
    prepared = { ok: false, error };
  }
  if (prepared.ok) {
    const done = await ops.fast(prepared.value);
    if (done) return reply.code(done.status).type('application/json; charset=utf-8').send(done.json);
  }
  return idempotent(store, req, reply, principal, now, async (finishInTx) => {
    if (!prepared.ok) throw prepared.error;
    return ops.slow(prepared.value, finishInTx);
  });
}
