import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  buildSignBatchHttpRequest,
  buildSignHttpRequest,
  buildStatusHttpRequest,
  type CosignerStatus,
  cosignerStatusSchema,
  MAX_SIGN_BATCH,
  refusalSchema,
  type SignRequest,
  type SignResponse,
  signResponseSchema,
  TRANSIENT_REFUSAL_CODES,
} from '../core/auth/index.ts';
import { type HttpResponse, keepAliveFetch } from '../net/http-fetch.ts';

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

/** A batch answer of MAX_SIGN_BATCH signatures is far below this; anything larger is not an answer. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** A batch answer's envelope; each result is then parsed strictly on its own (mapSigned/mapRefusal). */
const batchEnvelope = z
  .object({ ok: z.literal(true), cosigner: z.string(), results: z.array(z.unknown()) })
  .strict();

/**
 * A signature answer for `request`: strictly parsed, and for the same intent as asked (a
 * co-signer or a proxy answering for another intent is not a signature for this one).
 */
function mapSigned(json: unknown, request: SignRequest): SignOutcome {
  const ok = signResponseSchema.safeParse(json);
  if (ok.success && ok.data.intentId === (request.intent as { id?: unknown }).id) {
    return { kind: 'signed', response: ok.data };
  }
  return { kind: 'unavailable', code: 'COSIGNER_BAD_RESPONSE', message: 'malformed signature response' };
}

/** A refusal: transient codes and server errors are 'unavailable' (retried), the rest final. */
function mapRefusal(json: unknown, httpStatus: number | undefined): Exclude<SignOutcome, { kind: 'signed' }> {
  const refusal = refusalSchema.safeParse(json);
  if (!refusal.success) {
    return {
      kind: 'unavailable',
      code: 'COSIGNER_BAD_RESPONSE',
      message: httpStatus === undefined ? 'batch item is not a refusal' : `HTTP ${httpStatus}, not a refusal`,
    };
  }
  if ((httpStatus ?? 0) >= 500 || TRANSIENT_REFUSALS.has(refusal.data.code)) {
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

export class HttpCosigner implements CosignerPort {
  readonly id: string;
  /** Kept-alive connections to this co-signer (src/net/http-fetch.ts: why not the global fetch). */
  private readonly fetch = keepAliveFetch({ maxSockets: 8, maxResponseBytes: MAX_RESPONSE_BYTES });
  constructor(private readonly o: HttpCosignerOptions) {
    this.id = o.id;
  }

  async sign(request: SignRequest): Promise<SignOutcome> {
    const http = buildSignHttpRequest(this.o.key, this.o.id, request, this.clock());
    const res = await this.post(http);
    if (res.kind === 'failed') return res.outcome;
    return res.ok ? mapSigned(res.json, request) : mapRefusal(res.json, res.status);
  }

  /**
   * Items are sent MAX_SIGN_BATCH at a time, one chunk after the other (in order: an earlier item
   * takes a nonce or a velocity allowance before a later one). Each item's answer is mapped exactly
   * like `sign` maps a single answer; a failure of a whole request (unreachable, not JSON, a refusal
   * of the request itself such as auth, an answer with the wrong number of results) makes every
   * item of that request 'unavailable' — retried, never taken as a signature.
   */
  async signMany(requests: readonly SignRequest[]): Promise<SignOutcome[]> {
    const out: SignOutcome[] = [];
    for (let at = 0; at < requests.length; at += MAX_SIGN_BATCH) {
      const chunk = requests.slice(at, at + MAX_SIGN_BATCH);
      out.push(...(await this.signChunk(chunk)));
    }
    return out;
  }

  private async signChunk(chunk: readonly SignRequest[]): Promise<SignOutcome[]> {
    const http = buildSignBatchHttpRequest(this.o.key, this.o.id, chunk, this.clock());
    const res = await this.post(http);
    const all = (o: SignOutcome) => chunk.map(() => o);
    if (res.kind === 'failed') return all(res.outcome);
    if (!res.ok) {
      const whole = mapRefusal(res.json, res.status);
      return all(
        whole.kind === 'unavailable'
          ? whole
          : { kind: 'unavailable', code: whole.code, message: `batch refused: ${whole.message}` },
      );
    }
    const env = batchEnvelope.safeParse(res.json);
    if (!env.success || env.data.results.length !== chunk.length)
      return all({ kind: 'unavailable', code: 'COSIGNER_BAD_RESPONSE', message: 'malformed batch response' });
    return chunk.map((request, k) => {
      const item = env.data.results[k];
      return (item as { ok?: unknown })?.ok === true ? mapSigned(item, request) : mapRefusal(item, undefined);
    });
  }

  private clock() {
    return { timestampMs: (this.o.now ?? Date.now)(), nonce: randomBytes(16) };
  }

  private async post(http: {
    path: string;
    headers: Record<string, string>;
    body: string;
  }): Promise<
    { kind: 'failed'; outcome: SignOutcome } | { kind: 'answer'; ok: boolean; status: number; json: unknown }
  > {
    let res: HttpResponse;
    try {
      res = await this.fetch(new URL(http.path, this.o.url), {
        method: 'POST',
        headers: http.headers,
        body: http.body,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 15_000),
      });
    } catch (e) {
      return {
        kind: 'failed',
        outcome: {
          kind: 'unavailable',
          code: 'COSIGNER_UNREACHABLE',
          message: e instanceof Error ? e.message : String(e),
        },
      };
    }
    try {
      return { kind: 'answer', ok: res.ok, status: res.status, json: await res.json() };
    } catch {
      return {
        kind: 'failed',
        outcome: {
          kind: 'unavailable',
          code: 'COSIGNER_BAD_RESPONSE',
          message: `HTTP ${res.status}, body not JSON`,
        },
      };
    }
  }

  async status(): Promise<CosignerStatus | undefined> {
    const http = buildStatusHttpRequest(this.o.key, this.o.id, this.clock());
    try {
      const res = await this.fetch(new URL(http.path, this.o.url), {
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
