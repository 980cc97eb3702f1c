import { splitMultipath } from '../core/chains/bitcoin/descriptor/multipath.ts';
import {
  type BitcoinChainSource,
  BitcoinNodeError,
  bad,
  bodyWithTimeout,
  fetchWithTimeout,
  HASH_RE,
  hexBytes,
  type NodeUtxo,
  toHex,
} from './source.ts';

/**
 * Bitcoin Core JSON-RPC adapter (a watch-only descriptor wallet on the coordinator's node).
 * Methods and shapes as documented in Bitcoin Core's RPC help: importdescriptors, listunspent,
 * getrawtransaction, estimatesmartfee, sendrawtransaction, getblock (verbosity 0), getblockhash,
 * getblockcount. Every call is bounded by `timeoutMs` and fails closed with a typed error.
 */
export interface BitcoinRpcOptions {
  url: string;
  /** rpcuser / rpcpassword, or the cookie file's user:password. */
  auth: { username: string; password: string };
  /** Wallet name for wallet RPCs (/wallet/<name>). */
  wallet?: string;
  timeoutMs?: number;
}

let nextId = 1;

export class BitcoinCoreRpc implements BitcoinChainSource {
  private readonly timeoutMs: number;
  constructor(private readonly o: BitcoinRpcOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  async call<T = unknown>(method: string, params: unknown[] = [], walletScoped = false): Promise<T> {
    const url =
      walletScoped && this.o.wallet
        ? `${this.o.url}/wallet/${encodeURIComponent(this.o.wallet)}`
        : this.o.url;
    const id = nextId++;
    const res = await fetchWithTimeout(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${this.o.auth.username}:${this.o.auth.password}`).toString('base64')}`,
        },
        body: JSON.stringify({ jsonrpc: '1.0', id, method, params }),
      },
      this.timeoutMs,
    );
    const text = await bodyWithTimeout(res.text(), this.timeoutMs);
    let body: { result?: unknown; error?: { code: number; message: string } | null; id?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      // Bitcoin Core answers 401 with an empty body, and errors as JSON with HTTP 500.
      throw new BitcoinNodeError('NODE_HTTP_ERROR', `HTTP ${res.status} from the node`, {
        details: { status: res.status, method },
      });
    }
    if (body.error) {
      throw new BitcoinNodeError('NODE_RPC_ERROR', body.error.message, {
        details: { rpcCode: body.error.code, method },
      });
    }
    if (!res.ok) throw new BitcoinNodeError('NODE_HTTP_ERROR', `HTTP ${res.status}`, { details: { method } });
    if (body.id !== id) bad('JSON-RPC id', body.id);
    if (!('result' in body)) bad(`${method} result`, undefined);
    return body.result as T;
  }

  /**
   * Many calls in one HTTP request: Bitcoin Core executes a JSON array of requests as a batch and
   * answers HTTP 200 with an array of `{result, error, id}` in any order. Each answer is matched to
   * its call by id; a call without an answer, or one whose answer carries an error, comes back as
   * `{ ok: false }` with a typed error. The request itself failing (time-out, HTTP error, not an
   * array) throws like `call` does.
   */
  async callMany<T = unknown>(
    calls: readonly { method: string; params?: unknown[] }[],
    walletScoped = false,
  ): Promise<({ ok: true; result: T } | { ok: false; error: BitcoinNodeError })[]> {
    if (calls.length === 0) return [];
    const url =
      walletScoped && this.o.wallet
        ? `${this.o.url}/wallet/${encodeURIComponent(this.o.wallet)}`
        : this.o.url;
    const first = nextId;
    nextId += calls.length;
    const res = await fetchWithTimeout(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${this.o.auth.username}:${this.o.auth.password}`).toString('base64')}`,
        },
        body: JSON.stringify(
          calls.map((c, i) => ({ jsonrpc: '1.0', id: first + i, method: c.method, params: c.params ?? [] })),
        ),
      },
      this.timeoutMs,
    );
    const text = await bodyWithTimeout(res.text(), this.timeoutMs);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new BitcoinNodeError('NODE_HTTP_ERROR', `HTTP ${res.status} from the node`, {
        details: { status: res.status, method: 'batch' },
      });
    }
    if (!res.ok)
      throw new BitcoinNodeError('NODE_HTTP_ERROR', `HTTP ${res.status}`, { details: { method: 'batch' } });
    if (!Array.isArray(body)) bad('batch reply', body);
    type Reply = { id?: unknown; result?: unknown; error?: { code: number; message: string } | null };
    const byId = new Map<unknown, Reply>();
    for (const r of body as Reply[]) if (r && typeof r === 'object') byId.set(r.id, r);
    return calls.map((c, i) => {
      const r = byId.get(first + i);
      if (!r || !('result' in r))
        return {
          ok: false,
          error: new BitcoinNodeError('NODE_BAD_RESPONSE', `no answer to ${c.method} in the batch`),
        };
      if (r.error)
        return {
          ok: false,
          error: new BitcoinNodeError('NODE_RPC_ERROR', String(r.error.message), {
            details: { rpcCode: r.error.code, method: c.method },
          }),
        };
      return { ok: true, result: r.result as T };
    });
  }

  async tipHeight(): Promise<number> {
    const h = await this.call('getblockcount');
    if (!Number.isSafeInteger(h) || (h as number) < 0) bad('block count', h);
    return h as number;
  }

  async blockHash(height: number): Promise<string> {
    const h = await this.call('getblockhash', [height]);
    if (typeof h !== 'string' || !HASH_RE.test(h)) bad('block hash', h);
    return h;
  }

  async rawBlock(hash: string): Promise<Uint8Array> {
    return hexBytes(await this.call('getblock', [hash, 0]), 'raw block');
  }

  async rawTransaction(txid: string): Promise<Uint8Array> {
    return hexBytes(await this.call('getrawtransaction', [txid, false]), 'raw transaction');
  }

  async estimateFeeRate(targetBlocks: number): Promise<number> {
    const r = await this.call<{ feerate?: number; errors?: string[] }>('estimatesmartfee', [targetBlocks]);
    // feerate is BTC/kvB; absent when the node has no estimate (fail closed: no guess).
    if (!r || typeof r.feerate !== 'number' || !(r.feerate > 0))
      throw new BitcoinNodeError('NODE_BAD_RESPONSE', 'node has no fee estimate', {
        details: { errors: r?.errors },
      });
    return (r.feerate * 1e8) / 1000;
  }

  async broadcast(raw: Uint8Array): Promise<string> {
    const txid = await this.call('sendrawtransaction', [toHex(raw)]);
    if (typeof txid !== 'string' || !HASH_RE.test(txid)) bad('txid', txid);
    return txid;
  }

  /**
   * Imports the wallet's receive and change descriptors watch-only (one per branch: multipath
   * descriptors are split, Core's importdescriptors takes `internal` per descriptor).
   */
  async importDescriptors(
    receive: string,
    change: string,
    range: [number, number],
    timestamp: number | 'now' = 'now',
  ) {
    const [r, c] = receive === change ? splitMultipath(receive) : [receive, change];
    const res = await this.call<{ success: boolean; error?: { message: string } }[]>(
      'importdescriptors',
      [
        [
          { desc: r, active: true, internal: false, range, timestamp },
          { desc: c, active: true, internal: true, range, timestamp },
        ],
      ],
      true,
    );
    if (!Array.isArray(res) || res.length !== 2) bad('importdescriptors result', res);
    const failed = res.find((x) => x.success !== true);
    if (failed)
      throw new BitcoinNodeError(
        'NODE_RPC_ERROR',
        `importdescriptors failed: ${failed.error?.message ?? 'unknown'}`,
      );
  }

  /** A wallet transaction's raw bytes (works without -txindex for the wallet's own transactions). */
  async walletTransaction(txid: string): Promise<Uint8Array> {
    const r = await this.call<{ hex?: unknown }>('gettransaction', [txid, true], true);
    return hexBytes(r?.hex, 'wallet transaction');
  }

  async listUnspent(minConf = 1): Promise<NodeUtxo[]> {
    const res = await this.call<unknown[]>('listunspent', [minConf, 9_999_999], true);
    if (!Array.isArray(res)) bad('listunspent result', res);
    return res.map((u) => {
      const x = u as {
        txid: unknown;
        vout: unknown;
        amount: unknown;
        scriptPubKey: unknown;
        address?: unknown;
        confirmations?: unknown;
      };
      if (typeof x.txid !== 'string' || !HASH_RE.test(x.txid)) bad('utxo txid', x.txid);
      if (!Number.isSafeInteger(x.vout) || (x.vout as number) < 0) bad('utxo vout', x.vout);
      return {
        txid: x.txid,
        vout: x.vout as number,
        value: btcToSat(x.amount),
        script:
          typeof x.scriptPubKey === 'string' ? x.scriptPubKey : bad('utxo scriptPubKey', x.scriptPubKey),
        address: typeof x.address === 'string' ? x.address : undefined,
        confirmations: typeof x.confirmations === 'number' ? x.confirmations : undefined,
      };
    });
  }
}

/** Bitcoin Core prints amounts as BTC JSON numbers with at most 8 decimals; converted exactly. */
export function btcToSat(amount: unknown): bigint {
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0 || amount > 21e6)
    bad('amount', amount);
  // The 8-decimal rendering must read back as the same double: more precision is not an amount.
  const fixed = amount.toFixed(8);
  if (Number(fixed) !== amount) bad('amount precision', amount);
  return BigInt(fixed.replace('.', ''));
}
