import { CustosError, InvalidInputError } from '../core/errors/base.ts';

/** Exit codes shared by every command: 0 ok, 1 verification failed, 2 bad input or usage. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

export interface Output {
  json: boolean;
  out: (s: string) => void;
  err: (s: string) => void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
    err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  };
}

/** Prints either a JSON document or human lines. */
export function emit(o: Output, value: unknown, human: () => string): void {
  o.out(o.json ? JSON.stringify(value, null, 2) : human());
}

/** Reports an error (typed errors by code and field) and returns the exit code for it. */
export function reportError(o: Output, e: unknown): number {
  if (e instanceof CustosError) {
    const payload = {
      ok: false,
      code: e.code,
      message: e.shortMessage,
      ...(e instanceof InvalidInputError ? { field: e.field } : {}),
      details: e.details,
    };
    if (o.json) o.out(JSON.stringify(payload, null, 2));
    else o.err(`error: ${e.message}`);
    return EXIT.badInput;
  }
  const message = e instanceof Error ? e.message : String(e);
  if (o.json) o.out(JSON.stringify({ ok: false, code: 'INTERNAL', message }, null, 2));
  else o.err(`error: ${message}`);
  return EXIT.badInput;
}
