import { z } from 'zod';
import { validateAddress } from '../chains/address.ts';
import { parseAssetId, parseChainId } from '../chains/caip.ts';
import { InvalidInputError } from '../errors/base.ts';

/** Decimal integer in base units: no sign, no leading zeros, no exponent, no fraction. uint256 bound. */
export const AMOUNT_RE = /^[1-9][0-9]{0,77}$/;
const FEE_RE = /^(0|[1-9][0-9]{0,77})$/;
/** RFC 3339 timestamp in UTC (`Z` only; offsets would give one instant several spellings). */
export const RFC3339_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const UINT256_MAX = (1n << 256n) - 1n;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/**
 * RFC 9562 UUID, lower-case only (§4: UUIDs are output in lower case; accepting both cases would give
 * one intent id two spellings), version 1–8, RFC variant; the nil and max UUIDs are refused.
 */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/**
 * Text shown to approvers must not carry control characters or Unicode bidirectional controls:
 * U+202E and friends reorder what a screen shows (T2, "what is shown is not what is signed").
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
export const DISPLAY_UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const timestamp = z
  .string()
  .regex(RFC3339_UTC_RE, 'must be an RFC 3339 UTC timestamp like 2026-01-31T12:00:00Z')
  .refine((s) => {
    const t = Date.parse(s);
    // Round-trip the calendar date so 2026-02-30 is refused rather than rolled over.
    return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === s.slice(0, 10);
  }, 'is not a real calendar date');

export const intentSchema = z
  .object({
    version: z.literal(1),
    id: z.string().regex(UUID_RE, 'must be a lower-case RFC 9562 UUID'),
    chain: z.string(),
    asset: z.string(),
    wallet: z.string().regex(ID_RE, 'must be a wallet id'),
    destination: z.string().min(1).max(128),
    amount: z
      .string()
      .regex(
        AMOUNT_RE,
        'must be a positive decimal integer in base units, without sign, exponent or leading zeros',
      )
      // zod 4 runs refinements even after a failed regex: guard, or BigInt('1e3') throws untyped.
      .refine((s) => !AMOUNT_RE.test(s) || BigInt(s) <= UINT256_MAX, 'exceeds 2^256-1'),
    maxFee: z
      .string()
      .regex(FEE_RE, 'must be a decimal integer in base units')
      .refine((s) => !FEE_RE.test(s) || BigInt(s) <= UINT256_MAX, 'exceeds 2^256-1')
      .optional(),
    reference: z
      .string()
      .max(256)
      .refine(
        (s) => !DISPLAY_UNSAFE_RE.test(s),
        'must not contain control or bidirectional-override characters',
      ),
    requestedBy: z.string().regex(ID_RE, 'must be a principal id'),
    createdAt: timestamp,
    expiresAt: timestamp,
  })
  .strict();

export type Intent = z.infer<typeof intentSchema>;

/**
 * Parses a withdrawal intent strictly: unknown fields, wrong types, a chain/asset mismatch, an
 * address that is not valid for the chain, or an expiry not after creation are all refused with
 * an {@link InvalidInputError} naming the field. Nothing is normalised: the digest is over
 * exactly what the requester signed.
 */
export function parseIntent(input: unknown): Intent {
  const parsed = intentSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? '' : '(root)');
    if (issue.code === 'unrecognized_keys') {
      throw new InvalidInputError(
        'UNKNOWN_FIELD',
        issue.keys.join(','),
        `unknown field(s): ${issue.keys.join(', ')}`,
      );
    }
    throw new InvalidInputError('INVALID_INTENT', field, `${field}: ${issue.message}`);
  }
  const intent = parsed.data;
  const chain = parseChainId(intent.chain, 'chain');
  const asset = parseAssetId(intent.asset, 'asset');
  if (asset.chain.caip2 !== chain.caip2) {
    throw new InvalidInputError('ASSET_CHAIN_MISMATCH', 'asset', 'asset belongs to another chain', {
      details: { chain: intent.chain, asset: intent.asset },
    });
  }
  if (asset.kind === 'erc20') validateAddress(chain, asset.contract, 'asset');
  validateAddress(chain, intent.destination, 'destination');
  if (Date.parse(intent.expiresAt) <= Date.parse(intent.createdAt)) {
    throw new InvalidInputError('INVALID_INTENT', 'expiresAt', 'expiresAt must be after createdAt');
  }
  return intent;
}
