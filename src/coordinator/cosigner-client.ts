import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import {
  buildSignHttpRequest,
  buildStatusHttpRequest,
  type CosignerStatus,
  cosignerStatusSchema,
  refusalSchema,
  type SignRequest,
  type SignResponse,
  signResponseSchema,
  TRANSIENT_REFUSAL_CODES,
} from '../core/auth/index.ts';

/**
 * HTTP client for one co-signer. Every request is signed (Ed25519 over method, path, body digest,
 * timestamp, nonce, audience: src/core/auth). Answers are parsed strictly; anything that is not a
 * well-formed signature or a well-formed refusal is treated as the co-signer being unavailable
 * (retry later), never as a signature.
 */
export type SignOutcome =
  | { kind: 'signed'; response: SignResponse }
  | { kind: 'refused'; code: string; message: string; step: string; details?: Record<string, unknown> }
  | { kind: 'unavailable'; code: string; message: string };

export interface CosignerPort {
  readonly id: string;
  sign(request: SignRequest): Promise<SignOutcome>;
  /**
   * Many intents in one authenticated round trip (`POST /v1/sign-batch`): one outcome per request,
   * in order. Each item is judged exactly as `sign` would judge it alone (a refusal of one item
   * never affects another), and the co-signer records all its signatures in one ledger
   * transaction. Optional: a port without it is asked item by item.
   */
  signMany?(requests: readonly SignRequest[]): Promise<SignOutcome[]>;
  status(): Promise<CosignerStatus | undefined>;
}

export interface HttpCosignerOptions {
  id: string;
  url: string;
  key: { keyId: string; privateKey: KeyObject };
  timeoutMs?: number;
  now?: () => number;
}

/**
 * Refusals about timing or the co-signer's own state, not the request's content (the co-signer's
 * published list, plus load shedding): the same request is retried with backoff. Every other code
 * is final for that content and fails the intent.
 */
const TRANSIENT_REFUSALS: ReadonlySet<string> = new Set([...TRANSIENT_REFUSAL_CODES, 'RATE_LIMITED', 'BUSY']);

export class HttpCosigner implements CosignerPort {
  readonly id: string;
  constructor(private readonly o: HttpCosignerOptions) {
    this.id = o.id;
  }

  async sign(request: SignRequest): Promise<SignOutcome> {
    const now = this.o.now ?? Date.now;
    const http = buildSignHttpRequest(this.o.key, this.o.id, request, {
      timestampMs: now(),
      nonce: randomBytes(16),
    });
    let res: Response;
    try {
      res = await fetch(new URL(http.path, this.o.url), {
        method: 'POST',
        headers: http.headers,
        body: http.body,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 15_000),
      });
    } catch (e) {
      return {
        kind: 'unavailable',
        code: 'COSIGNER_UNREACHABLE',
        message: e instanceof Error ? e.message : String(e),
      };
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      return {
        kind: 'unavailable',
        code: 'COSIGNER_BAD_RESPONSE',
        message: `HTTP ${res.status}, body not JSON`,
      };
    }
    if (res.ok) {
      const ok = signResponseSchema.safeParse(json);
      if (ok.success && ok.data.intentId === (request.intent as { id?: unknown }).id) {
        return { kind: 'signed', response: ok.data };
      }
      return { kind: 'unavailable', code: 'COSIGNER_BAD_RESPONSE', message: 'malformed signature response' };
    }
    const refusal = refusalSchema.safeParse(json);
    if (!refusal.success) {
      return {
        kind: 'unavailable',
        code: 'COSIGNER_BAD_RESPONSE',
        message: `HTTP ${res.status}, not a refusal`,
      };
    }
    if (res.status >= 500 || TRANSIENT_REFUSALS.has(refusal.data.code)) {
      return { kind: 'unavailable', code: refusal.data.code, message: refusal.data.message };
    }
    return {
      kind: 'refused',
      code: refusal.data.code,
      message: refusal.data.message,
      step: refusal.data.step,
      ...(refusal.data.details ? { details: refusal.data.details } : {}),
    };
  }

  async status(): Promise<CosignerStatus | undefined> {
    const now = this.o.now ?? Date.now;
    const http = buildStatusHttpRequest(this.o.key, this.o.id, {
      timestampMs: now(),
      nonce: randomBytes(16),
    });
    try {
      const res = await fetch(new URL(http.path, this.o.url), {
        headers: http.headers,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 5_000),
      });
      if (!res.ok) return undefined;
      const parsed = cosignerStatusSchema.safeParse(await res.json());
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
