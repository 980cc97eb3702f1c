import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppServices } from '../app.ts';
import { decodeCursor, encodeCursor, idCursorSchema } from '../cursor.ts';
import { ProblemError, problemJsonSchema } from '../problem.ts';
import { jsonSchema, parseWith } from '../zod.ts';

/** Read side of the audit log (src/store/audit.ts AuditLog behind an adapter). */
export interface AuditReader {
  entries(afterSeq: number, limit: number): Promise<{ seq: number }[]>;
  checkpoints(): Promise<unknown[]>;
  verify(): Promise<unknown>;
}

const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();
const problems = { 400: problemJsonSchema, 401: problemJsonSchema, 501: problemJsonSchema };

function reader(s: AppServices): AuditReader {
  if (!s.audit) throw new ProblemError(501, 'AUDIT_UNAVAILABLE', 'the audit log reader is not configured');
  return s.audit;
}

export function registerAuditRoutes(app: FastifyInstance, s: AppServices): void {
  app.get(
    '/v1/audit/entries',
    {
      schema: {
        tags: ['audit'],
        summary: 'Audit entries in chain order',
        querystring: jsonSchema(pageQuery),
        response: problems,
      },
    },
    async (req) => {
      const q = parseWith(pageQuery, req.query, 'query');
      const after = q.cursor ? Number(decodeCursor(q.cursor, idCursorSchema)[0]) : 0;
      const rows = await reader(s).entries(after, q.limit);
      const last = rows[rows.length - 1];
      return {
        items: rows,
        nextCursor: rows.length === q.limit && last ? encodeCursor([String(last.seq)]) : null,
      };
    },
  );
  app.get(
    '/v1/audit/checkpoints',
    { schema: { tags: ['audit'], summary: 'Signed checkpoints', response: problems } },
    async () => ({
      items: await reader(s).checkpoints(),
    }),
  );
  app.post(
    '/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the whole chain and its checkpoints now',
        response: problems,
      },
    },
    async () => reader(s).verify(),
  );
}
