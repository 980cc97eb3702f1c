/**
 * A value read at most once per `ttlMs` (a node's pending nonce, the co-signers' readiness), shared
 * by concurrent callers (one read in flight at a time); a failed read is not kept.
 */
export class Sampled<T> {
  private value: T | undefined;
  private at = -Infinity;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  get(nowMs: number, fresh = false): Promise<T> {
    if (!fresh && this.value !== undefined && nowMs - this.at < this.ttlMs)
      return Promise.resolve(this.value);
    if (this.inFlight && !fresh) return this.inFlight;
    const p = this.read().then(
      (v) => {
        this.value = v;
        this.at = nowMs;
        if (this.inFlight === p) this.inFlight = undefined;
        return v;
      },
      (e: unknown) => {
        if (this.inFlight === p) this.inFlight = undefined;
        throw e;
      },
    );
    this.inFlight = p;
    return p;
  }
}
