import type { WebhookOutbox } from './outbox.ts';
import { webhookSignature } from './sign.ts';

export interface DispatcherOptions {
  /** The clock (RFC 3339 UTC); injected so tests can move time forward. */
  now: () => string;
  /** First retry after this, doubling each attempt (default 5 s). */
  baseDelayMs?: number;
  /** Cap on the retry delay (default 1 h). */
  maxDelayMs?: number;
  /** After this many failed attempts the row is marked dead (default 12, about a day). */
  maxAttempts?: number;
  /** Per-request time-out (default 10 s). */
  timeoutMs?: number;
  /** How many rows one pass claims (default 50). */
  batch?: number;
  /** Random in [0, 1) for jitter; injected for deterministic tests. */
  random?: () => number;
  fetch?: typeof fetch;
}

/** Exponential backoff with up to 20 % jitter: base·2^(attempt−1), capped. */
export function retryDelayMs(attempt: number, base: number, max: number, random: number): number {
  const d = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(d * (1 + 0.2 * random));
}

/**
 * Delivers the outbox: POSTs each due row with its HMAC signature; a 2xx marks it delivered;
 * anything else (status, network error, time-out) schedules a retry with backoff, until
 * `maxAttempts`, then marks it dead (kept for inspection and manual replay). Delivery is
 * at-least-once: receivers de-duplicate on the `Custos-Delivery` header (the event id).
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly outbox: WebhookOutbox,
    private readonly options: DispatcherOptions,
  ) {}

  /** One pass: returns how many rows were delivered and how many failed. */
  async runOnce(): Promise<{ delivered: number; failed: number }> {
    const o = this.options;
    const timeoutMs = o.timeoutMs ?? 10_000;
    const rows = await this.outbox.claim(o.batch ?? 50, o.now(), timeoutMs * 2);
    let delivered = 0;
    let failed = 0;
    const doFetch = o.fetch ?? fetch;
    for (const row of rows) {
      const unix = Math.floor(Date.parse(o.now()) / 1000);
      let status: number | null = null;
      let error = '';
      try {
        const res = await doFetch(row.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'custos-event': row.event,
            'custos-delivery': row.eventId,
            'custos-signature': webhookSignature(row.secret, unix, row.body),
          },
          body: row.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          await this.outbox.markDelivered(row.id, o.now(), res.status);
          delivered++;
          continue;
        }
        error = `HTTP ${res.status}`;
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const attempt = row.attempts + 1;
      const dead = attempt >= (o.maxAttempts ?? 12);
      const delay = retryDelayMs(
        attempt,
        o.baseDelayMs ?? 5_000,
        o.maxDelayMs ?? 3_600_000,
        (o.random ?? Math.random)(),
      );
      await this.outbox.markFailed(row.id, {
        dead,
        nextAttemptAt: new Date(Date.parse(o.now()) + delay).toISOString(),
        status,
        error,
      });
      failed++;
    }
    return { delivered, failed };
  }

  /** Polls every `intervalMs` until `stop()`. */
  start(intervalMs = 1000): void {
    const tick = () => {
      this.running = this.runOnce()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
  }
}
