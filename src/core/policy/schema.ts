import { z } from 'zod';

/**
 * The policy document as written in YAML. Strict everywhere: an unknown or misspelled key
 * (`amout:`) is an error, never ignored — an ignored condition would silently widen a rule.
 * `schemas/policy.schema.json` is generated from this schema (`npm run custos -- policy schema`)
 * and a test checks both agree.
 */

/** Base units (`"150000000"`) or a decimal with a ticker from the asset registry (`"0.5 BTC"`). */
export const AMOUNT_SPEC_RE =
  /^(?:0|[1-9][0-9]{0,77}|(?:0|[1-9][0-9]{0,38})(?:\.[0-9]{1,36})? [A-Za-z][A-Za-z0-9.]{0,15})$/;
/** `30s`, `15m`, `1h`, `24h`, `7d` */
export const DURATION_RE = /^[1-9][0-9]{0,8}(?:ms|s|m|h|d)$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const name = z.string().regex(NAME_RE, 'must be an identifier (letters, digits, . _ : -)');
const names = z.array(name).min(1);
const amountSpec = z
  .string()
  .regex(AMOUNT_SPEC_RE, 'must be base units ("150000000") or a decimal and a ticker ("0.5 BTC")');
const duration = z.string().regex(DURATION_RE, 'must be a duration like 30s, 15m, 1h, 24h or 7d');
const percent = z.number().min(0).max(1000);

export const amountRangeSchema = z
  .object({ lt: amountSpec, lte: amountSpec, gt: amountSpec, gte: amountSpec })
  .partial()
  .strict()
  .refine((r) => Object.keys(r).length > 0, 'needs at least one of lt, lte, gt, gte');

export const percentRangeSchema = z
  .object({ lt: percent, lte: percent, gt: percent, gte: percent })
  .partial()
  .strict()
  .refine((r) => Object.keys(r).length > 0, 'needs at least one of lt, lte, gt, gte');

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const clock = z.string().regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'must be HH:MM (00:00–24:00)');

export const scheduleSchema = z
  .object({
    /** IANA time zone, e.g. Europe/Zurich */
    timezone: z.string().min(1),
    days: z.array(z.enum(WEEKDAYS)).min(1).optional(),
    /** local wall-clock interval [from, to); from > to wraps past midnight */
    hours: z.object({ from: clock, to: clock }).strict().optional(),
  })
  .strict();

export const destinationConditionSchema = z
  .object({
    /** address-book categories (only active entries count) */
    category: names,
    label: z.array(z.string().min(1)).min(1),
    /** an active address-book entry */
    known: z.boolean(),
    /** never paid before from this wallet (per the ledger) */
    firstTime: z.boolean(),
    /** resembles an address-book entry or a recent destination without being it */
    lookalike: z.boolean(),
  })
  .partial()
  .strict();

export const initiatorConditionSchema = z
  .object({ ids: names, roles: names })
  .partial()
  .strict()
  .refine((r) => Object.keys(r).length > 0, 'needs ids or roles');

export const conditionsSchema = z
  .object({
    initiator: initiatorConditionSchema,
    wallet: names,
    /** CAIP-2 ids */
    chain: z.array(z.string().min(1)).min(1),
    /** CAIP-19 ids or tickers from the asset registry */
    asset: z.array(z.string().min(1)).min(1),
    amount: amountRangeSchema,
    destination: destinationConditionSchema,
    /** default: the rule applies to `transfer` only; every other operation must be named */
    operation: names,
    schedule: scheduleSchema,
    screening: z.array(z.enum(['clear', 'hit', 'unavailable'])).min(1),
    percentOfWalletBalance: percentRangeSchema,
  })
  .partial()
  .strict();

export const approveSchema = z
  .object({
    quorum: z.number().int().min(1).max(100),
    from: names,
    distinct: z.literal(true).default(true),
    excludeRequester: z.boolean().default(true),
    expiresAfter: duration.optional(),
  })
  .strict();

export const ruleSchema = z
  .object({
    name,
    description: z.string().max(1000).optional(),
    when: conditionsSchema.default({}),
    action: z.enum(['allow', 'block', 'approve']),
    reason: z.string().min(1).max(500).optional(),
    approve: approveSchema.optional(),
    delay: duration.optional(),
  })
  .strict()
  .refine((r) => (r.action === 'approve') === (r.approve !== undefined), {
    message: 'approve: is required exactly when action is approve',
    path: ['approve'],
  })
  .refine((r) => r.action !== 'block' || r.reason !== undefined, {
    message: 'a block rule needs a reason',
    path: ['reason'],
  })
  .refine((r) => r.action !== 'block' || r.delay === undefined, {
    message: 'a block rule cannot have a delay',
    path: ['delay'],
  });

export const LIMIT_KEYS = ['wallet', 'asset', 'destination', 'initiator'] as const;

export const onExceedSchema = z.union([
  z.literal('block'),
  z.object({ approve: approveSchema, delay: duration.optional() }).strict(),
]);

export const limitSchema = z
  .object({
    name,
    description: z.string().max(1000).optional(),
    /** which intents the limit applies to (same fields as rule conditions; all optional) */
    match: z
      .object({
        wallet: names,
        chain: z.array(z.string().min(1)).min(1),
        asset: z.array(z.string().min(1)).min(1),
      })
      .partial()
      .strict()
      .default({}),
    /** usage is counted per distinct value of these fields; sums are always per asset too */
    per: z.array(z.enum(LIMIT_KEYS)).min(1).default(['wallet']),
    window: duration.optional(),
    sum: amountSpec.optional(),
    count: z.number().int().min(1).optional(),
    /** cap on a single withdrawal as a percentage of the wallet's balance of that asset */
    maxPercentOfBalance: percent.optional(),
    onExceed: onExceedSchema.default('block'),
  })
  .strict()
  .refine((l) => l.sum !== undefined || l.count !== undefined || l.maxPercentOfBalance !== undefined, {
    message: 'a limit needs sum, count or maxPercentOfBalance',
  })
  .refine((l) => (l.sum === undefined && l.count === undefined) === (l.window === undefined), {
    message: 'window is required with sum/count and meaningless without them',
    path: ['window'],
  });

export const groupSchema = z.object({ members: z.array(name).min(1) }).strict();

export const assetDeclSchema = z
  .object({
    symbol: z.string().regex(/^[A-Za-z][A-Za-z0-9.]{0,15}$/),
    decimals: z.number().int().min(0).max(36),
  })
  .strict();

export const policySchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    name,
    description: z.string().max(2000).optional(),
    settings: z
      .object({
        /** minimum cool-down before a new address-book entry counts as known (floor; API cannot shorten) */
        addressBookCooldownFloor: duration.default('24h'),
      })
      .strict()
      .default({ addressBookCooldownFloor: '24h' }),
    /** decimals and tickers the amount strings refer to; signed with the policy so "0.5 BTC" cannot be re-scaled */
    assets: z.record(z.string().min(1), assetDeclSchema).default({}),
    groups: z.record(name, groupSchema).optional(),
    rules: z.array(ruleSchema).min(1),
    limits: z.array(limitSchema).default([]),
  })
  .strict();

export type PolicyDocument = z.output<typeof policySchema>;
export type PolicyRule = PolicyDocument['rules'][number];
export type PolicyLimit = PolicyDocument['limits'][number];
export type Conditions = z.output<typeof conditionsSchema>;
export type ApproveSpec = z.output<typeof approveSchema>;

/** The published JSON Schema (input side: defaults are optional to write). */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  return {
    ...schema,
    $id: 'https://custos.dev/schemas/policy.schema.json',
    title: 'Custos withdrawal policy',
  };
}
