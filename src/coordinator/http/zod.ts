import { z } from 'zod';
import { ProblemError } from './problem.ts';

/**
 * Boundary parsing with zod (strict objects: unknown fields are refused, nothing is repaired).
 * The first issue becomes a 400 problem naming the field as a JSON pointer.
 */
export function parseWith<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: 'body' | 'query' | 'params',
): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const base = issue.path.map(String).join('/');
    const field = `/${where}${base ? `/${base}` : ''}/${issue.keys[0]}`;
    throw new ProblemError(400, 'UNKNOWN_FIELD', `unknown field: ${issue.keys.join(', ')}`, { field });
  }
  const path = issue.path.map(String).join('/');
  const field = `/${where}${path ? `/${path}` : ''}`;
  throw new ProblemError(400, 'VALIDATION_FAILED', `${field}: ${issue.message}`, { field });
}

/** JSON Schema (2020-12, as OpenAPI 3.1 uses) of a zod schema, for the documentation only. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<
    string,
    unknown
  >;
  return rest;
}
