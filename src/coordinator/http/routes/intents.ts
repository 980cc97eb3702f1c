import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { INTENT_STATES } from '../../../core/workflow/states.ts';
import type { AppServices } from '../app.ts';
import { decodeCursor, encodeCursor, intentCursorSchema } from '../cursor.ts';
import { answeredKey, idempotent, idempotentCreate } from '../idempotency.ts';
import { ProblemError, problemJsonSchema } from '../problem.ts';
import { jsonSchema, parseWith } from '../zod.ts';

const submitBody = z
  .object({
    /** The intent exactly as signed (parsed strictly again; unknown fields refused). */
    intent: z.record(z.string(), z.unknown()),
    /** Requester signature over the intent digest (src/core/approval wire format). */
    signature: z.record(z.string(), z.unknown()),
  })
  .strict();
const signatureBody = z.object({ signature: z.record(z.string(), z.unknown()) }).strict();
const approvalBody = z.record(z.string(), z.unknown());
const idParams = z.object({ id: z.uuid() }).strict();
const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(512).optional(),
    state: z.enum(INTENT_STATES).optional(),
    requestedBy: z.string().max(128).optional(),
  })
  .strict();

const problems = {
  400: problemJsonSchema,
  401: problemJsonSchema,
  403: problemJsonSchema,
  404: problemJsonSchema,
  409: problemJsonSchema,
  422: problemJsonSchema,
  429: problemJsonSchema,
  503: problemJsonSchema,
};
const idemHeader = {
  type: 'object',
  required: ['idempotency-key'],
  properties: { 'idempotency-key': { type: 'string', maxLength: 255 } },
};

function claimedPrincipal(body: unknown, field: 'signature' | 'root'): string {
  const b = body as Record<string, unknown> | undefined;
  const src = field === 'signature' ? (b?.signature as Record<string, unknown> | undefined) : b;
  return typeof src?.principal === 'string' ? src.principal : 'anonymous';
}

export function registerIntentRoutes(app: FastifyInstance, s: AppServices): void {
  app.post(
    '/v1/intents',
    {
      schema: {
        tags: ['intents'],
        summary: 'Submit a withdrawal intent signed by its requester',
        headers: idemHeader,
        body: jsonSchema(submitBody),
        response: { 201: { type: 'object' }, ...problems },
      },
    },
    async (req, reply) => {
      const body = parseWith(submitBody, req.body, 'body');
      const principal = claimedPrincipal(body, 'signature');
      const now = s.clock();
      const created = (id: string) => reply.header('location', `/v1/intents/${id}`);
      return idempotentCreate(s.idempotency, req, reply, principal, now, {
        prepare: () => s.service.prepare(body.intent, body.signature),
        // One statement: intent, history, job, audit staging and the answered key.
        fast: async (p) => {
          let json = '';
          const key = answeredKey(req, principal, now, 201, (rec) => {
            json = s.service.viewJson(rec);
            return json;
          });
          try {
            const r = await s.service.create(p, { idempotency: key });
            if (!r.record) return undefined;
            created(r.record.id);
            return { status: 201, json };
          } catch (e) {
            // Nothing was written: the classic path answers (a replay of this very request, or 409).
            if (e instanceof ProblemError && e.code === 'DUPLICATE_INTENT') return undefined;
            throw e;
          }
        },
        slow: async (p, finishInTx) => {
          let view: Record<string, unknown> | undefined;
          const r = await s.service.create(p, {
            inTx: async (tx, rec) => {
              view = s.service.view(rec);
              await finishInTx(tx, 201, view);
            },
          });
          const rec = r.record!;
          created(rec.id);
          return { status: 201, body: view ?? s.service.view(rec), finished: view !== undefined };
        },
      });
    },
  );

  app.get(
    '/v1/intents',
    {
      schema: {
        tags: ['intents'],
        summary: 'List intents, newest first (cursor pagination)',
        querystring: jsonSchema(listQuery),
        response: { 200: { type: 'object' }, ...problems },
      },
    },
    async (req) => {
      const q = parseWith(listQuery, req.query, 'query');
      const after = q.cursor ? decodeCursor(q.cursor, intentCursorSchema) : undefined;
      const page = await s.intents.list({
        limit: q.limit,
        ...(after ? { after: { createdAt: after[0], id: after[1] } } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.requestedBy ? { requestedBy: q.requestedBy } : {}),
      });
      return {
        items: page.items.map((r) => s.service.view(r)),
        nextCursor: page.next ? encodeCursor([page.next.createdAt, page.next.id]) : null,
      };
    },
  );

  app.get(
    '/v1/intents/:id',
    {
      schema: {
        tags: ['intents'],
        summary: 'One intent with its policy trace, history, approvals, decoded transaction and signatures',
        params: jsonSchema(idParams),
        response: { 200: { type: 'object' }, ...problems },
      },
    },
    async (req) => {
      const { id } = parseWith(idParams, req.params, 'params');
      return s.service.detail(await s.service.get(id));
    },
  );

  app.post(
    '/v1/intents/:id/cancel',
    {
      schema: {
        tags: ['intents'],
        summary: 'Cancel before signing (signature over the cancel action digest)',
        headers: idemHeader,
        params: jsonSchema(idParams),
        body: jsonSchema(signatureBody),
        response: { 200: { type: 'object' }, ...problems },
      },
    },
    async (req, reply) => {
      const { id } = parseWith(idParams, req.params, 'params');
      const body = parseWith(signatureBody, req.body, 'body');
      return idempotent(
        s.idempotency,
        req,
        reply,
        claimedPrincipal(body, 'signature'),
        s.clock(),
        async () => ({
          status: 200,
          body: s.service.view(await s.service.cancel(id, body.signature)),
        }),
      );
    },
  );

  app.post(
    '/v1/intents/:id/approvals',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Approve or reject (an approver signature over the approval digest)',
        headers: idemHeader,
        params: jsonSchema(idParams),
        body: { type: 'object', description: 'src/core/approval Approval' },
        response: { 200: { type: 'object' }, ...problems },
      },
    },
    async (req, reply) => {
      const { id } = parseWith(idParams, req.params, 'params');
      const body = parseWith(approvalBody, req.body, 'body');
      return idempotent(s.idempotency, req, reply, claimedPrincipal(body, 'root'), s.clock(), async () => {
        const r = await s.service.approve(id, body);
        return { status: 200, body: { ...s.service.view(r.record), approvers: r.approvers } };
      });
    },
  );
}
