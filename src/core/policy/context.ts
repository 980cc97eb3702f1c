import { z } from 'zod';
import { InvalidInputError } from '../errors/base.ts';
import type { Intent } from '../intent/schema.ts';
import { RFC3339_UTC_RE } from '../intent/schema.ts';
import type { EvalContext } from './evaluate.ts';

/**
 * Strict parser for an evaluation context supplied as JSON (CLI `policy test --context`, replay
 * tools). Omitted parts default to the most restrictive reading: empty address book and ledger,
 * screening `unavailable`, the intent's own requester with no roles, `now` = intent.createdAt.
 */
const ts = z.string().regex(RFC3339_UTC_RE, 'must be an RFC 3339 UTC timestamp');
const baseUnits = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'must be base units');

const entrySchema = z
  .object({
    chain: z.string(),
    address: z.string(),
    label: z.string(),
    category: z.string(),
    owner: z.string().optional(),
    status: z.enum(['pending', 'active', 'revoked']),
    addedAt: ts,
    activeFrom: ts,
    revokedAt: ts.optional(),
  })
  .strict();

const ledgerSchema = z
  .object({
    intentId: z.string(),
    wallet: z.string(),
    chain: z.string(),
    asset: z.string(),
    destination: z.string(),
    amount: baseUnits,
    requestedBy: z.string(),
    at: ts,
  })
  .strict();

export const contextSchema = z
  .object({
    now: ts.optional(),
    requester: z
      .object({ id: z.string().min(1), roles: z.array(z.string()) })
      .strict()
      .optional(),
    operation: z.string().min(1).optional(),
    addressBook: z.array(entrySchema).default([]),
    ledger: z.array(ledgerSchema).default([]),
    balances: z.record(z.string(), baseUnits).optional(),
    screening: z.enum(['clear', 'hit', 'unavailable']).default('unavailable'),
    screeningLists: z.array(z.string()).optional(),
    assets: z
      .record(
        z.string(),
        z.object({ symbol: z.string().min(1), decimals: z.number().int().min(0).max(36) }).strict(),
      )
      .default({}),
    recentDestinations: z.array(z.string()).optional(),
  })
  .strict();

export function parseEvalContext(input: unknown, intent: Intent): EvalContext {
  const r = contextSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field =
      issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]].join('.') : issue.path.join('.');
    throw new InvalidInputError('INVALID_CONTEXT', field || '(root)', `${field}: ${issue.message}`);
  }
  const c = r.data;
  const out: EvalContext = {
    now: c.now ?? intent.createdAt,
    requester: c.requester ?? { id: intent.requestedBy, roles: [] },
    addressBook: c.addressBook,
    ledger: c.ledger,
    screening: c.screening,
    assets: c.assets,
  };
  if (c.operation !== undefined) out.operation = c.operation;
  if (c.balances !== undefined) out.balances = c.balances;
  if (c.screeningLists !== undefined) out.screeningLists = c.screeningLists;
  if (c.recentDestinations !== undefined) out.recentDestinations = c.recentDestinations;
  return out;
}
