import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.ts';

/** Liveness, readiness, Prometheus metrics and the OpenAPI document. */
export function registerSystemRoutes(app: FastifyInstance, s: AppServices): void {
  // The trust chain's JSON, serialized once per chain (the trust view hands out a new array when it
  // re-reads the chain; co-signers poll this route, and the chain carries every wallet).
  const chainJson = new WeakMap<object, string>();
  app.get('/livez', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({
    ok: true,
  }));

  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'The database and configured dependencies answer' } },
    async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      try {
        await s.db.query('SELECT 1');
        checks.database = true;
      } catch {
        checks.database = false;
      }
      if (s.readiness) Object.assign(checks, await s.readiness().catch(() => ({ dependencies: false })));
      const ok = Object.values(checks).every(Boolean);
      return reply.code(ok ? 200 : 503).send({ ok, checks });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics' } },
    async (_req, reply) => {
      const text = await s.metrics.registry.metrics();
      return reply.type(s.metrics.registry.contentType).send(text);
    },
  );

  app.get(
    '/trust/bundles.json',
    {
      schema: {
        tags: ['governance'],
        summary: 'The trust bundle chain (co-signers fetch and verify it from genesis)',
      },
    },
    async (_req, reply) => {
      const chain = s.trustChain?.() ?? [];
      let text = chainJson.get(chain);
      if (text === undefined) {
        text = JSON.stringify(chain);
        chainJson.set(chain, text);
      }
      return reply.type('application/json; charset=utf-8').send(text);
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
