import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parseStrictJson } from '../../core/encoding/strict-json.ts';
import type { Db } from '../../store/db.ts';
import type { AlertStore } from '../../store/workflow/alerts.ts';
import type { IdempotencyStore } from '../../store/workflow/idempotency.ts';
import type { IntentStore } from '../../store/workflow/intents.ts';
import type { JobQueue } from '../../store/workflow/queue.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import type { IntentService } from '../service.ts';
import { AccessLog } from './access-log.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError, toProblem } from './problem.ts';
import { RateLimiter, type RateLimitOptions } from './rate-limit.ts';
import { type AuditReader, registerAuditRoutes } from './routes/audit.ts';
import { type DirectoryPort, type GovernancePort, registerDirectoryRoutes } from './routes/directory.ts';
import { registerIntentRoutes } from './routes/intents.ts';
import { registerSystemRoutes } from './routes/system.ts';

export interface AppServices {
  db: Db;
  intents: IntentStore;
  queue: JobQueue;
  idempotency: IdempotencyStore;
  alerts: AlertStore;
  service: IntentService;
  metrics: CoordinatorMetrics;
  directory: DirectoryPort;
  governance?: GovernancePort;
  audit?: AuditReader;
  clock: () => Date;
  /**
   * The admin-signed trust bundle chain co-signers fetch (public: every byte is signed). Its JSON
   * is cached per returned array: hand out a new array when the chain changes, never mutate one.
   */
  trustChain?: () => unknown[];
  /** Extra readiness checks (co-signers reachable, chain RPC up); name → ok. */
  readiness?: () => Promise<Record<string, boolean>>;
}

export interface AppOptions {
  logger?: Logger;
  bodyLimitBytes?: number;
  rateLimit?: RateLimitOptions;
  /** Read-only session tokens → principal. Empty: reads are open (local demo only). */
  readTokens?: ReadonlyMap<string, string>;
  /** Public URL prefix, for the OpenAPI `servers` entry. */
  publicUrl?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
    principal?: string;
  }
}

const tokenDigest = (t: string) => bytesToHex(sha256(utf8ToBytes(t)));

/**
 * The coordinator's HTTP API (Fastify 5). Bodies are parsed strictly (duplicate JSON keys
 * refused) and validated with zod in the handlers; every error is RFC 9457 problem+json with a
 * stable type; every POST needs an Idempotency-Key; every state change carries a fresh signature
 * in its body (sessions only read).
 */
export async function buildApp(s: AppServices, o: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    // Failed requests at info, successful ones at debug (see AccessLog).
    ...(o.logger
      ? { loggerInstance: o.logger as unknown as FastifyBaseLogger, logController: new AccessLog(o.logger) }
      : { logger: false }),
    bodyLimit: o.bodyLimitBytes ?? 256 * 1024,
    requestIdHeader: false,
  });
  // Validation is zod in the handlers (field-naming problems); the JSON Schemas on routes are for
  // the OpenAPI document only. Responses are serialized as-is.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    (req as FastifyRequest).rawBody = text;
    try {
      done(null, text.length === 0 ? undefined : parseStrictJson(text, 'body'));
    } catch (e) {
      const err = e as { code?: string; shortMessage?: string };
      done(
        new ProblemError(400, err.code ?? 'INVALID_JSON', err.shortMessage ?? 'body is not valid JSON', {
          field: '/body',
        }),
        undefined,
      );
    }
  });

  const readDigests = new Map(
    [...(o.readTokens ?? new Map<string, string>())].map(([t, p]) => [tokenDigest(t), p]),
  );
  const limiter = o.rateLimit ? new RateLimiter(o.rateLimit) : undefined;

  app.addHook('onRequest', async (req) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) {
      const p = readDigests.get(tokenDigest(auth.slice(7)));
      if (!p) throw new ProblemError(401, 'INVALID_SESSION', 'unknown session token');
      req.principal = p;
    }
    if (req.method === 'GET' && req.url.startsWith('/v1/') && readDigests.size > 0 && !req.principal) {
      throw new ProblemError(401, 'SESSION_REQUIRED', 'reads need a session token (Authorization: Bearer …)');
    }
  });

  app.addHook('preHandler', async (req, reply) => {
    if (!limiter || !req.url.startsWith('/v1/')) return;
    // Before signatures are checked, the claimed signer is the best key available; a forged
    // claim only spends the victim's burst, it cannot exceed the limit.
    const body = req.body as { signature?: { principal?: unknown }; principal?: unknown } | undefined;
    const claimed = typeof body?.signature?.principal === 'string' ? body.signature.principal : undefined;
    const key = req.principal ?? (typeof claimed === 'string' ? claimed : undefined) ?? `ip:${req.ip}`;
    const wait = limiter.take(key, Date.now());
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new ProblemError(429, 'RATE_LIMITED', 'too many requests for this principal', {
        details: { principal: key },
      });
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    s.metrics.http.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (err, req, reply) => {
    const p = toProblem(err, req.url);
    req.problemCode = p.code;
    if (p.status >= 500) req.log.error({ err }, 'request failed');
    return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler(async (req, reply) => {
    const p = toProblem(
      new ProblemError(404, 'ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`),
      req.url,
    );
    req.problemCode = p.code;
    return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(p);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Custos coordinator API',
        version: '1',
        description:
          'Withdrawal firewall. Errors are RFC 9457 application/problem+json with stable `type` URNs ' +
          '(urn:custos:problem:<code>). Every POST requires an Idempotency-Key header. State-changing ' +
          'calls carry a signature over the action digest in the body; session tokens only read.',
      },
      ...(o.publicUrl ? { servers: [{ url: o.publicUrl }] } : {}),
      components: {
        securitySchemes: {
          session: { type: 'http', scheme: 'bearer', description: 'read-only session token' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerSystemRoutes(app, s);
  registerIntentRoutes(app, s);
  registerDirectoryRoutes(app, s);
  registerAuditRoutes(app, s);
  return app;
}
