import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppServices } from '../app.ts';
import { decodeCursor, encodeCursor, idCursorSchema } from '../cursor.ts';
import { idempotent } from '../idempotency.ts';
import { ProblemError, problemJsonSchema } from '../problem.ts';
import { jsonSchema, parseWith } from '../zod.ts';

/** Read-only views of the configuration in force (principals, wallets, address book). */
export interface DirectoryPort {
  principals(): unknown[];
  wallets(): unknown[];
  addressBook(): unknown[];
}

/**
 * Governance proposals and votes (src/core/governance). State changes here carry admin signatures
 * over proposal/vote digests; the port verifies them.
 */
export interface GovernancePort {
  list(): Promise<unknown[]>;
  get(id: string): Promise<unknown | undefined>;
  propose(body: unknown, now: Date): Promise<unknown>;
  vote(id: string, body: unknown, now: Date): Promise<unknown>;
}

const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(512).optional(),
  })
  .strict();
const alertQuery = pageQuery.extend({ subject: z.string().max(200).optional() }).strict();
const idParams = z.object({ id: z.string().min(1).max(128) }).strict();
const anyBody = z.record(z.string(), z.unknown());
const problems = {
  400: problemJsonSchema,
  401: problemJsonSchema,
  404: problemJsonSchema,
  501: problemJsonSchema,
};

function governance(s: AppServices) {
  if (!s.governance) {
    throw new ProblemError(
      501,
      'GOVERNANCE_UNAVAILABLE',
      'governance proposals are not available in this build',
    );
  }
  return s.governance;
}

function paginate<T>(items: T[], limit: number, cursor?: string): { items: T[]; nextCursor: string | null } {
  const start = cursor ? Number(decodeCursor(cursor, idCursorSchema)[0]) : 0;
  const page = items.slice(start, start + limit);
  return {
    items: page,
    nextCursor: start + limit < items.length ? encodeCursor([String(start + limit)]) : null,
  };
}

export function registerDirectoryRoutes(app: FastifyInstance, s: AppServices): void {
  const list = (path: string, summary: string, get: () => unknown[]) =>
    app.get(
      path,
      { schema: { tags: ['directory'], summary, querystring: jsonSchema(pageQuery), response: problems } },
      async (req) => {
        const q = parseWith(pageQuery, req.query, 'query');
        return paginate(get(), q.limit, q.cursor);
      },
    );
  list('/v1/principals', 'Principals and their credentials (public keys only)', () =>
    s.directory.principals(),
  );
  list('/v1/wallets', 'Wallets and their co-signer routes', () => s.directory.wallets());
  list('/v1/address-book', 'Address book entries', () => s.directory.addressBook());

  app.get(
    '/v1/alerts',
    {
      schema: {
        tags: ['alerts'],
        summary: 'Alerts, newest first',
        querystring: jsonSchema(alertQuery),
        response: problems,
      },
    },
    async (req) => {
      const q = parseWith(alertQuery, req.query, 'query');
      const before = q.cursor ? decodeCursor(q.cursor, idCursorSchema)[0] : undefined;
      const page = await s.alerts.list({
        limit: q.limit,
        ...(before ? { before } : {}),
        ...(q.subject ? { subject: q.subject } : {}),
      });
      return {
        items: page.items.map((a) => ({
          ...a,
          raisedAt: a.raisedAt.toISOString(),
          ackedAt: a.ackedAt?.toISOString() ?? null,
        })),
        nextCursor: page.next ? encodeCursor([page.next]) : null,
      };
    },
  );

  app.get(
    '/v1/proposals',
    { schema: { tags: ['governance'], summary: 'Governance proposals', response: problems } },
    async () => ({
      items: await governance(s).list(),
    }),
  );
  app.get(
    '/v1/proposals/:id',
    {
      schema: {
        tags: ['governance'],
        summary: 'One proposal with its votes',
        params: jsonSchema(idParams),
        response: problems,
      },
    },
    async (req) => {
      const { id } = parseWith(idParams, req.params, 'params');
      const p = await governance(s).get(id);
      if (p === undefined)
        throw new ProblemError(404, 'PROPOSAL_NOT_FOUND', 'no such proposal', { field: '/params/id' });
      return p;
    },
  );
  app.post(
    '/v1/proposals',
    {
      schema: {
        tags: ['governance'],
        summary: 'Propose a configuration change (admin-signed)',
        response: problems,
      },
    },
    async (req, reply) => {
      const body = parseWith(anyBody, req.body, 'body');
      const g = governance(s);
      const who =
        typeof (body.signature as { principal?: unknown } | undefined)?.principal === 'string'
          ? String((body.signature as { principal: string }).principal)
          : 'anonymous';
      return idempotent(s.idempotency, req, reply, who, s.clock(), async () => ({
        status: 201,
        body: await g.propose(body, s.clock()),
      }));
    },
  );
  app.post(
    '/v1/proposals/:id/votes',
    {
      schema: {
        tags: ['governance'],
        summary: 'Vote approve/cancel on a proposal (admin-signed)',
        params: jsonSchema(idParams),
        response: problems,
      },
    },
    async (req, reply) => {
      const { id } = parseWith(idParams, req.params, 'params');
      const body = parseWith(anyBody, req.body, 'body');
      const g = governance(s);
      const who =
        typeof (body.signature as { principal?: unknown } | undefined)?.principal === 'string'
          ? String((body.signature as { principal: string }).principal)
          : 'anonymous';
      return idempotent(s.idempotency, req, reply, who, s.clock(), async () => ({
        status: 200,
        body: await g.vote(id, body, s.clock()),
      }));
    },
  );
}
