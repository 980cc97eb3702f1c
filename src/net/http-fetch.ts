import http from 'node:http';
import https from 'node:https';
import { CustosError } from '../core/errors/base.ts';

/**
 * The subset of `fetch` the hot HTTP paths use — the JSON-RPC transports (viem's HTTP RPC client
 * reads `ok`, `status`, `statusText`, `headers.get` and, with `body: null`, `text()`) and the
 * coordinator's co-signer client — over `node:http`/`node:https` with a keep-alive agent.
 *
 * Why not the global `fetch`: measured on this project's machine (Node 20, a JSON-RPC-sized
 * exchange over loopback), undici's fetch spends ~500 µs more CPU per request than `node:http`
 * on a kept-alive socket (web streams, `Headers`, `AbortSignal` plumbing), and the workflow
 * process makes such requests for every batch step and every watchtower poll.
 *
 * The whole body is read before the promise resolves, so an abort signal (a timeout) covers the
 * headers and the body alike; a body over `maxResponseBytes` is cut off with a typed error. A
 * request that fails with ECONNRESET on a socket reused from the pool (the server closed it while
 * it was idle) is sent once more on a fresh connection, as Node's documentation advises; every
 * caller here sends requests that are safe to repeat (JSON-RPC reads and raw transactions,
 * co-signer requests with their own nonce and ledger).
 */
export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
  signal?: AbortSignal | null;
}

export interface HttpResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  /** Always null: the body is already read (see {@link text}). */
  readonly body: null;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export type HttpFetch = (url: string | URL, init?: HttpRequestInit) => Promise<HttpResponse>;

export interface KeepAliveOptions {
  /** Sockets per origin (default 16). */
  maxSockets?: number;
  /** Largest response body accepted (default 16 MiB). */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** A fetch over its own keep-alive agents (one per protocol); `close()` ends their sockets. */
export function keepAliveFetch(o: KeepAliveOptions = {}): HttpFetch & { close(): void } {
  const agentOptions = { keepAlive: true, maxSockets: o.maxSockets ?? 16, scheduling: 'lifo' as const };
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };
  const limit = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const f = (async (input, init = {}) => {
    const url = typeof input === 'string' ? new URL(input) : input;
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new CustosError('INVALID_URL', `unsupported protocol ${url.protocol}`);
    try {
      return await sendOnce(url, init, agents[url.protocol], limit);
    } catch (e) {
      if (!(e instanceof StaleSocket)) throw e;
      return await sendOnce(url, init, agents[url.protocol], limit);
    }
  }) as HttpFetch & { close(): void };
  f.close = () => {
    agents['http:'].destroy();
    agents['https:'].destroy();
  };
  return f;
}

/** ECONNRESET on a pooled socket before any answer: the request is sent once more. */
class StaleSocket extends Error {}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason;
  return new DOMException('This operation was aborted', 'AbortError');
}

/** One request on a pooled (or new) socket; resolves once the whole body is read. */
function sendOnce(url: URL, init: HttpRequestInit, agent: http.Agent, limit: number): Promise<HttpResponse> {
  const { signal } = init;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const body = init.body ?? undefined;
  const headers: Record<string, string | number> = { ...(init.headers ?? {}) };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<HttpResponse>((resolve, reject) => {
    let answered = false;
    let settled = false;
    const onAbort = () => req.destroy(signal ? (abortReason(signal) as Error) : undefined);
    const settle = (e: unknown, value?: HttpResponse) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (value) resolve(value);
      else if (
        !answered &&
        req.reusedSocket &&
        (e as { code?: unknown }).code === 'ECONNRESET' &&
        !signal?.aborted
      )
        reject(new StaleSocket());
      else reject(e);
    };
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          res.destroy(
            new CustosError('RESPONSE_TOO_LARGE', `response body over ${limit} bytes`, {
              details: { url: url.origin, limit },
            }),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', settle);
      // Closed without its end (the connection dropped mid-body): never a truncated answer.
      res.on('close', () => settle(new Error('connection closed before the response ended')));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        let text: string | undefined;
        const readText = () => {
          text ??= buf.toString('utf8');
          return text;
        };
        settle(undefined, {
          ok: status >= 200 && status < 300,
          status,
          statusText: res.statusMessage ?? '',
          headers: {
            get(name: string) {
              const v = res.headers[name.toLowerCase()];
              if (v === undefined) return null;
              return Array.isArray(v) ? v.join(', ') : v;
            },
          },
          body: null,
          text: async () => readText(),
          json: async () => JSON.parse(readText()) as unknown,
        });
      });
    });
    req.on('error', settle);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

/**
 * `f` as viem's HTTP transport `fetchFn` (typed as the global `fetch`). viem's HTTP RPC client
 * passes a plain init (method, headers as an object, a string body, a signal) and reads only what
 * {@link HttpResponse} has; `test/net/http-fetch.test.ts` drives viem's client through it.
 */
export const viemFetch = (f: HttpFetch): typeof fetch => f as unknown as typeof fetch;
