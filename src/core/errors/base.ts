/**
 * Typed errors with a stable code and a cause chain (after viem's BaseError).
 *
 * `code` is a stable, machine-readable identifier (SCREAMING_SNAKE_CASE) that callers, the API's
 * problem+json `type` and tests match on; `shortMessage` is for humans; `details` carries the
 * offending field, file, line or value. Only programmer errors and bad input throw; verifiers
 * return a {@link Result} instead.
 */
export interface CustosErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CustosError extends Error {
  override readonly name: string = 'CustosError';
  readonly code: string;
  readonly shortMessage: string;
  readonly details: Record<string, unknown>;

  constructor(code: string, shortMessage: string, options: CustosErrorOptions = {}) {
    const detailText =
      options.details && Object.keys(options.details).length > 0
        ? ` (${Object.entries(options.details)
            .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(', ')})`
        : '';
    super(
      `${code}: ${shortMessage}${detailText}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details ?? {};
  }

  /** Walks the cause chain and returns the first error matching `predicate`. */
  walk(predicate: (e: unknown) => boolean): unknown {
    let current: unknown = this;
    while (current !== undefined && current !== null) {
      if (predicate(current)) return current;
      current = current instanceof Error ? current.cause : undefined;
    }
    return undefined;
  }
}

/** Input that failed validation at a boundary: names the field (a JSON pointer-like path). */
export class InvalidInputError extends CustosError {
  override readonly name = 'InvalidInputError';
  readonly field: string;
  constructor(code: string, field: string, shortMessage: string, options: CustosErrorOptions = {}) {
    super(code, shortMessage, { ...options, details: { field, ...options.details } });
    this.field = field;
  }
}

/** The outcome of a verifier: never throws for a failed check, returns a reason code. */
export type Result<T = undefined, C extends string = string> =
  | ({ ok: true } & (T extends undefined ? { value?: undefined } : { value: T }))
  | { ok: false; code: C; message: string; details?: Record<string, unknown> };

export function ok(): { ok: true; value?: undefined };
export function ok<T>(value: T): { ok: true; value: T };
export function ok<T>(value?: T): { ok: true; value?: T } {
  return { ok: true, value };
}

export function fail<C extends string>(
  code: C,
  message: string,
  details?: Record<string, unknown>,
): { ok: false; code: C; message: string; details?: Record<string, unknown> } {
  return details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };
}
