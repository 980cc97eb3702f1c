import { base64urlnopad } from '@scure/base';
import { z } from 'zod';
import { ProblemError } from './problem.ts';

/**
 * Opaque pagination cursors: base64url of a small JSON array. Decoded strictly — a cursor that
 * does not decode to the expected shape is a 400 INVALID_CURSOR, never "start from the top".
 */
export function encodeCursor(v: unknown): string {
  return base64urlnopad.encode(new TextEncoder().encode(JSON.stringify(v)));
}

export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(base64urlnopad.decode(cursor));
    return schema.parse(JSON.parse(text));
  } catch {
    throw new ProblemError(400, 'INVALID_CURSOR', 'cursor is not one this API issued', {
      field: '/query/cursor',
    });
  }
}

export const intentCursorSchema = z.tuple([z.iso.datetime(), z.uuid()]);
export const idCursorSchema = z.tuple([z.string().regex(/^[1-9][0-9]{0,18}$/)]);
