import type { ScreeningProvider, ScreeningResult, ScreeningStatus } from '../core/screening/types.ts';

/**
 * Adapter for an external screening service (Chainalysis/TRM-style) over HTTP.
 *
 * Request: `POST <url>` with `{"chain": "<CAIP-2>", "address": "<address>"}`.
 * Expected reply: 200 with `{"status": "clear" | "hit", "lists"?: string[]}`.
 * Anything else — time-out, connection error, non-200, a body that is not exactly that shape —
 * is `unavailable` (fail closed, I6): the policy then decides, and the default policy blocks.
 */
export interface HttpScreeningOptions {
  url: string;
  timeoutMs: number;
  name?: string;
  headers?: Record<string, string>;
  /** injectable for tests that need a real server elsewhere; defaults to the global fetch */
  fetch?: typeof fetch;
}

const MAX_REPLY_CHARS = 65_536;

export class HttpScreeningProvider implements ScreeningProvider {
  readonly name: string;
  constructor(private readonly opts: HttpScreeningOptions) {
    this.name = opts.name ?? 'http';
    if (!(opts.timeoutMs > 0)) throw new Error('timeoutMs must be positive');
  }

  async lookup(chain: string, address: string): Promise<ScreeningResult> {
    const unavailable = (error: string): ScreeningResult => ({
      status: 'unavailable',
      lists: [],
      provider: this.name,
      error,
    });
    const f = this.opts.fetch ?? fetch;
    try {
      const res = await f(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...this.opts.headers },
        body: JSON.stringify({ chain, address }),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        redirect: 'error',
      });
      if (res.status !== 200) return unavailable(`HTTP ${res.status}`);
      const text = await res.text();
      // A verdict is a few dozen bytes; a huge body is a misbehaving or hostile endpoint.
      if (text.length > MAX_REPLY_CHARS) return unavailable('reply too large');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return unavailable('reply is not JSON');
      }
      if (typeof body !== 'object' || body === null) return unavailable('reply is not an object');
      const { status, lists } = body as { status?: unknown; lists?: unknown };
      if (status !== 'clear' && status !== 'hit') return unavailable('reply has no valid status');
      if (lists !== undefined && !(Array.isArray(lists) && lists.every((x) => typeof x === 'string'))) {
        return unavailable('reply has invalid lists');
      }
      return {
        status,
        lists: status === 'hit' ? ((lists as string[] | undefined) ?? []) : [],
        provider: this.name,
      };
    } catch (e) {
      const name = e instanceof Error ? e.name : '';
      return unavailable(
        name === 'TimeoutError' || name === 'AbortError' ? 'time-out' : `request failed: ${String(e)}`,
      );
    }
  }

  async check(chain: string, address: string): Promise<ScreeningStatus> {
    return (await this.lookup(chain, address)).status;
  }
}

/**
 * Several providers at once: `hit` if any says hit (lists merged), else `unavailable` if any could
 * not answer, else `clear`. One failing provider can never turn a check into `clear`.
 */
export function combineProviders(
  providers: readonly ScreeningProvider[],
  name = 'combined',
): ScreeningProvider {
  const lookup = async (chain: string, address: string): Promise<ScreeningResult> => {
    const results = await Promise.all(providers.map((p) => p.lookup(chain, address)));
    const hits = results.filter((r) => r.status === 'hit');
    if (hits.length > 0) return { status: 'hit', lists: hits.flatMap((r) => r.lists), provider: name };
    const down = results.find((r) => r.status === 'unavailable');
    if (down || results.length === 0) {
      return { status: 'unavailable', lists: [], provider: name, error: down?.error ?? 'no providers' };
    }
    return { status: 'clear', lists: [], provider: name };
  };
  return { name, lookup, check: async (c, a) => (await lookup(c, a)).status };
}
