import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../../store/db.ts';
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

/** Request fingerprint: method, path and the exact body bytes. */
export function requestHash(req: FastifyRequest): string {
  const raw = (req as FastifyRequest & { rawBody?: string }).rawBody ?? '';
  return bytesToHex(sha256(utf8ToBytes(`${req.method}\n${req.url}\n${raw}`)));
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
    leaseMs: 60_000,
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
    const body = begun.response as { type?: string } | null;
    reply.header('idempotency-replayed', 'true');
    if (begun.statusCode >= 400) reply.type('application/problem+json');
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
