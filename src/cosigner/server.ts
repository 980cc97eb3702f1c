import { bytesToHex } from '@noble/hashes/utils.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { COSIGNER_PATHS, type CosignerStatus, type Refusal } from '../core/auth/cosigner-api.ts';
import { verifySignedRequest } from '../core/auth/request.ts';
import { ledgerCount, recordNonce } from './ledger.ts';
import { handleSign, type PipelineDeps, unauthenticatedRefusals } from './pipeline.ts';
import { handleSignBatch } from './pipeline-batch.ts';
import { RefusalLogVerifier } from './refusal-log.ts';

/**
 * The co-signer's narrow HTTP API: `POST /v1/sign`, `POST /v1/sign-batch` and `GET /v1/status`, nothing else (no admin
 * endpoints: configuration changes arrive only as admin-signed trust bundles). Bodies are taken
 * as raw bytes — the signed-request digest is over exactly those bytes, and the pipeline parses
 * them itself with duplicate keys refused.
 */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

export function buildServer(
  deps: PipelineDeps,
  opts: { logger?: boolean; https?: { cert: string | Buffer; key: string | Buffer } } = {},
): FastifyInstance {
  const app = (
    opts.https
      ? Fastify({
          logger: opts.logger ?? false,
          bodyLimit: MAX_BODY_BYTES,
          https: { ...opts.https, minVersion: 'TLSv1.2' },
        })
      : Fastify({ logger: opts.logger ?? false, bodyLimit: MAX_BODY_BYTES })
  ) as FastifyInstance;
  const refusals = new RefusalLogVerifier(deps.now);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  for (const [path, handle] of [
    [COSIGNER_PATHS.sign, handleSign],
    [COSIGNER_PATHS.signBatch, handleSignBatch],
  ] as const) {
    app.post(path, async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const out = await handle(deps, { method: req.method, path: req.url, body, headers: req.headers });
      return reply.code(out.status).type('application/json').send(out.body);
    });
  }

  app.get(COSIGNER_PATHS.status, async (req, reply) => {
    const nowMs = deps.now();
    const auth = verifySignedRequest(
      { method: req.method, path: req.url, body: new Uint8Array(0), headers: req.headers },
      { audience: deps.cosignerId, resolveKey: deps.requestKey, nowMs, windowMs: deps.replayWindowMs },
    );
    const refuse = (code: string, message: string) =>
      reply.code(401).send({ ok: false, code, message, step: 'auth' } satisfies Refusal);
    if (!auth.ok) return refuse(auth.code, auth.message);
    if (!(await recordNonce(deps.db, auth.value.keyId, auth.value.nonce, nowMs)))
      return refuse('AUTH_REPLAY', 'request nonce already used');
    const trust = deps.trust();
    const log = await refusals.verify(deps.db);
    const status: CosignerStatus = {
      ok: true,
      cosigner: deps.cosignerId,
      keyBackend: deps.signer.backend,
      publicKey: bytesToHex(await deps.signer.publicKey()),
      bundle: trust ? { sequence: trust.sequence, hash: trust.hash } : null,
      ledgerEntries: await ledgerCount(deps.db),
      refusals: log.ok ? log.value.count : -1,
      unauthenticatedRefusals: unauthenticatedRefusals(deps.db),
    };
    return reply.send(status);
  });

  // Anything else: 404 as a typed refusal, so clients always get the same shape.
  app.setNotFoundHandler((_req, reply) =>
    reply
      .code(404)
      .send({ ok: false, code: 'NOT_FOUND', message: 'no such endpoint', step: 'route' } satisfies Refusal),
  );
  app.setErrorHandler((error, _req, reply) => {
    const err = error as { code?: string; statusCode?: number };
    const code = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'BODY_TOO_LARGE' : 'BAD_REQUEST';
    return reply
      .code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500)
      .send({ ok: false, code, message: 'request refused', step: 'transport' } satisfies Refusal);
  });
  return app;
}
