import { CustosError, InvalidInputError } from '../../core/errors/base.ts';

/**
 * RFC 9457 problem details. `type` is a stable URN per error code (`urn:custos:problem:<code>`,
 * code in kebab case) that clients match on; `code` repeats the SCREAMING_SNAKE code for logs and
 * CLI output; `field` names the offending input (a JSON pointer) for validation failures.
 * `detail` never carries stack traces or secrets.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  field?: string;
  details?: Record<string, unknown>;
}

export function problemType(code: string): string {
  return `urn:custos:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** An error the API answers with a given HTTP status and code. */
export class ProblemError extends CustosError {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    code: string,
    title: string,
    opts: { field?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, title, {
      details: { ...(opts.field !== undefined ? { field: opts.field } : {}), ...(opts.details ?? {}) },
      cause: opts.cause,
    });
    this.field = opts.field;
  }
  readonly field: string | undefined;
}

/** Status for codes raised by lower layers (verifiers, stores) that reach the API as CustosErrors. */
const STATUS_BY_CODE: Record<string, number> = {
  NOT_FOUND: 404,
  DUPLICATE_INTENT: 409,
  ILLEGAL_TRANSITION: 409,
  TERMINAL_STATE: 409,
  VERSION_CONFLICT: 409,
  INTENT_EXPIRED: 422,
};

export function toProblem(e: unknown, instance?: string): ProblemBody {
  if (e instanceof ProblemError) {
    return body(e.status, e.code, e.shortMessage, instance, e.field, strip(e.details, 'field'));
  }
  if (e instanceof InvalidInputError) {
    return body(400, e.code, e.shortMessage, instance, e.field, strip(e.details, 'field'));
  }
  if (e instanceof CustosError) {
    return body(STATUS_BY_CODE[e.code] ?? 400, e.code, e.shortMessage, instance, undefined, e.details);
  }
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return body(413, 'BODY_TOO_LARGE', 'request body exceeds the limit', instance);
  }
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return body(415, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json', instance);
  }
  if (fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return body(400, 'EMPTY_BODY', 'a JSON body is required', instance);
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return body(fe.statusCode, 'BAD_REQUEST', fe.message ?? 'bad request', instance);
  }
  return body(500, 'INTERNAL', 'internal error', instance);
}

function strip(d: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const { [key]: _, ...rest } = d;
  return Object.keys(rest).length ? rest : undefined;
}

function body(
  status: number,
  code: string,
  title: string,
  instance?: string,
  field?: string,
  details?: Record<string, unknown>,
): ProblemBody {
  return {
    type: problemType(code),
    title,
    status,
    code,
    ...(instance ? { instance } : {}),
    ...(field !== undefined ? { field } : {}),
    ...(details ? { details } : {}),
  };
}

/** The shape, for OpenAPI. */
export const problemJsonSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    field: { type: 'string' },
    details: { type: 'object' },
  },
} as const;
