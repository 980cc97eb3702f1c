import { z } from 'zod';
import { InvalidInputError } from '../../errors/base.ts';
import type { Address, Hex, SafeTxFields } from './types.ts';

/**
 * Strict JSON form of a Safe transaction as exchanged between coordinator, co-signers and the
 * offline verifier: integers are decimal strings (no floats, no exponent, no leading zeros),
 * addresses 20-byte hex, data even-length 0x hex, and no unknown fields.
 */
const UINT = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a decimal integer string')
  .refine((s) => BigInt(s) < 1n << 256n, 'exceeds 2^256-1');
const ADDRESS = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address');
const DATA = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'must be 0x-prefixed even-length hex');

export const safeTxJsonSchema = z
  .object({
    to: ADDRESS,
    value: UINT,
    data: DATA,
    operation: z.union([z.literal(0), z.literal(1)]),
    safeTxGas: UINT,
    baseGas: UINT,
    gasPrice: UINT,
    gasToken: ADDRESS,
    refundReceiver: ADDRESS,
    nonce: UINT,
  })
  .strict();

export type SafeTxJson = z.infer<typeof safeTxJsonSchema>;

/** A Safe tx file for `custos verify safe-tx`: the SafeTx fields plus where it executes. */
export const safeTxFileSchema = safeTxJsonSchema
  .extend({
    chainId: UINT,
    safe: ADDRESS,
    safeVersion: z.string(),
  })
  .strict();

export type SafeTxFile = z.infer<typeof safeTxFileSchema>;

export function zodToInput(error: z.ZodError, code: string): InvalidInputError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    return new InvalidInputError(
      'UNKNOWN_FIELD',
      issue.keys.join(','),
      `unknown field(s): ${issue.keys.join(', ')}`,
    );
  }
  const field = issue.path.join('.') || '(root)';
  return new InvalidInputError(code, field, `${field}: ${issue.message}`);
}

export function safeTxFromJson(j: SafeTxJson): SafeTxFields {
  return {
    to: j.to as Address,
    value: BigInt(j.value),
    data: j.data.toLowerCase() as Hex,
    operation: j.operation,
    safeTxGas: BigInt(j.safeTxGas),
    baseGas: BigInt(j.baseGas),
    gasPrice: BigInt(j.gasPrice),
    gasToken: j.gasToken as Address,
    refundReceiver: j.refundReceiver as Address,
    nonce: BigInt(j.nonce),
  };
}

export function safeTxToJson(t: SafeTxFields): SafeTxJson {
  return {
    to: t.to,
    value: t.value.toString(),
    data: t.data,
    operation: t.operation as 0 | 1,
    safeTxGas: t.safeTxGas.toString(),
    baseGas: t.baseGas.toString(),
    gasPrice: t.gasPrice.toString(),
    gasToken: t.gasToken,
    refundReceiver: t.refundReceiver,
    nonce: t.nonce.toString(),
  };
}

/** Parses the JSON form strictly; throws {@link InvalidInputError} naming the field. */
export function parseSafeTxJson(input: unknown): SafeTxFields {
  const r = safeTxJsonSchema.safeParse(input);
  if (!r.success) throw zodToInput(r.error, 'INVALID_SAFE_TX');
  return safeTxFromJson(r.data);
}
