import {
  type Address,
  type Chain,
  createPublicClient,
  defineChain,
  http,
  type PublicClient,
  type Transport,
} from 'viem';
import { getHttpRpcClient } from 'viem/utils';
import type { HotChainState, SafeChainState } from '../core/chains/evm/index.ts';
import { fail, ok, type Result } from '../core/errors/base.ts';
import { type JsonRpc, readHotChainState, readSafeState, type SafeListHints } from '../evm/chain-state.ts';
import { keepAliveFetch, viemFetch } from '../net/http-fetch.ts';

/**
 * Chain state read from the co-signer's OWN RPC endpoint (configured per chain, never supplied by
 * the coordinator): the nonce a transaction must use and the Safe's live configuration (all at one
 * block, masterCopy from storage slot 0 — the EVM module's reader), so a coordinator cannot feed a
 * stale nonce or hide a changed owner set, module, guard or implementation.
 */
export interface EvmChainReader {
  /** `expect`: the bundle's owners and modules, whose list entries are read in the first batch. */
  safeState(chain: string, safe: Address, expect?: SafeListHints): Promise<Result<SafeChainState>>;
  hotState(chain: string, account: Address): Promise<Result<HotChainState>>;
}

type Client = PublicClient<Transport, Chain>;

/**
 * JSON-RPC batching: the calls a state read makes in one tick (a Safe's storage words at one block — and those of every Safe read concurrently by a
 * batch request) travel as ONE HTTP request. `eth_chainId` is asked once per client: the endpoint
 * is fixed by our own config, and a failed answer is not cached.
 */
function rpcTransport(url: string, timeoutMs: number): Transport {
  const base = http(url, {
    batch: { batchSize: 1_000, wait: 0 },
    timeout: timeoutMs,
    retryCount: 0,
    fetchFn: viemFetch(keepAliveFetch()),
  });
  return ((params) => {
    const t = base(params);
    let chainId: Promise<unknown> | undefined;
    const request = ((args: { method: string }, opts?: unknown) => {
      const send = t.request as (a: unknown, o?: unknown) => Promise<unknown>;
      if (args.method !== 'eth_chainId') return send(args, opts);
      chainId ??= send(args, opts).catch((e: unknown) => {
        chainId = undefined;
        throw e;
      });
      return chainId;
    }) as typeof t.request;
    return { ...t, request };
  }) as Transport;
}

const MAX_BATCH = 1_000;

/**
 * The Safe reads' JSON-RPC: every call made in one tick (a Safe's getters and storage slots, and
 * those of every Safe a batch request reads) goes out as ONE JSON-RPC batch in one HTTP request
 * through viem's HTTP RPC client (timeout, body limit, error classes), without the per-call
 * machinery of a viem client (dedupe, retry and timeout wrappers, batch scheduler) — a batch
 * request reads 64 Safes × ~10 storage words. Answers are matched by id; a missing answer, an `error`
 * member or a failed HTTP request rejects the call (the reader then fails closed). `eth_chainId`
 * is asked once per endpoint (fixed by our own config); a failed answer is not cached.
 */
export function batchedJsonRpc(url: string, timeoutMs: number): JsonRpc {
  const http = getHttpRpcClient(url, { timeout: timeoutMs, fetchFn: viemFetch(keepAliveFetch()) });
  type Call = {
    id: number;
    method: string;
    params: readonly unknown[];
    resolve(v: unknown): void;
    reject(e: unknown): void;
  };
  let queue: Call[] = [];
  let nextId = 0;
  let chainId: Promise<unknown> | undefined;
  const flush = async () => {
    const calls = queue;
    queue = [];
    if (calls.length === 0) return;
    try {
      const answers = (await http.request({
        body: calls.map((c) => ({ id: c.id, method: c.method, params: c.params })),
      })) as unknown;
      const byId = new Map<unknown, Record<string, unknown>>();
      if (Array.isArray(answers))
        for (const a of answers) if (a && typeof a === 'object') byId.set((a as { id?: unknown }).id, a);
      for (const c of calls) {
        const a = byId.get(c.id);
        if (!a) c.reject(new Error(`${c.method}: no answer in the JSON-RPC batch`));
        else if (a.error !== undefined || !('result' in a))
          c.reject(new Error(`${c.method}: ${JSON.stringify(a.error ?? 'no result').slice(0, 200)}`));
        else c.resolve(a.result);
      }
    } catch (e) {
      for (const c of calls) c.reject(e);
    }
  };
  const send: JsonRpc = (method, params = []) =>
    new Promise((resolve, reject) => {
      if (queue.length === 0) setTimeout(flush, 0);
      queue.push({ id: ++nextId, method, params, resolve, reject });
      if (queue.length >= MAX_BATCH) void flush();
    });
  return (method, params) => {
    if (method !== 'eth_chainId') return send(method, params);
    chainId ??= send(method, params).catch((e: unknown) => {
      chainId = undefined;
      throw e;
    });
    return chainId;
  };
}

export function viemChainReader(
  rpcUrls: Record<string /* CAIP-2 */, string>,
  timeoutMs = 5_000,
): EvmChainReader {
  const clients = new Map<string, Client>();
  const rpcs = new Map<string, JsonRpc>();
  const client = (chain: string): Client | undefined => {
    const url = rpcUrls[chain];
    const id = /^eip155:([1-9][0-9]{0,15})$/.exec(chain)?.[1];
    if (!url || !id) return undefined;
    let c = clients.get(chain);
    if (!c) {
      const def = defineChain({
        id: Number(id),
        name: chain,
        nativeCurrency: { name: 'native', symbol: 'ETH', decimals: 18 },
        rpcUrls: { default: { http: [url] } },
      });
      c = createPublicClient({ chain: def, transport: rpcTransport(url, timeoutMs) });
      clients.set(chain, c);
    }
    return c;
  };
  const guard = async <T>(chain: string, fn: (c: Client) => Promise<T>): Promise<Result<T>> => {
    const c = client(chain);
    if (!c) return fail('CHAIN_NOT_CONFIGURED', 'no RPC endpoint configured for this chain', { chain });
    try {
      return ok(await fn(c));
    } catch (e) {
      // Fail closed: no chain state, no signature (I6).
      return fail('CHAIN_STATE_UNAVAILABLE', 'could not read chain state from our RPC endpoint', {
        chain,
        error: e instanceof Error ? e.message.slice(0, 200) : String(e),
      });
    }
  };
  const rpc = (chain: string): JsonRpc => {
    let r = rpcs.get(chain);
    if (!r) {
      r = batchedJsonRpc(rpcUrls[chain]!, timeoutMs);
      rpcs.set(chain, r);
    }
    return r;
  };
  return {
    // client(chain) is still asked first: it validates the chain id and the configured URL.
    safeState: (chain, safe, expect) =>
      guard(chain, () => readSafeState(rpc(chain), safe, undefined, expect)),
    hotState: (chain, account) => guard(chain, (c) => readHotChainState(c, account)),
  };
}
