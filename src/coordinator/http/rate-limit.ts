/**
 * Token buckets per principal (per process). A principal gets `burst` requests at once and
 * `perSecond` sustained; beyond that the API answers 429 RATE_LIMITED with Retry-After. Behind a
 * load balancer each coordinator enforces its own share: a limit of N per process is at most
 * N × processes overall, which the operator sizes for.
 */
export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  /** Most principals tracked; the least recently seen are forgotten first. */
  maxKeys?: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly o: RateLimitOptions) {}

  /** Takes one token; returns 0 when allowed, else the seconds until one is available. */
  take(key: string, nowMs: number): number {
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: nowMs };
    b.tokens = Math.min(this.o.burst, b.tokens + ((nowMs - b.at) / 1000) * this.o.perSecond);
    b.at = nowMs;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > (this.o.maxKeys ?? 100_000)) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.o.perSecond);
  }
}
