import {
  type BitcoinChainSource,
  BitcoinNodeError,
  bad,
  bodyWithTimeout,
  fetchWithTimeout,
  HASH_RE,
  type NodeUtxo,
  toHex,
} from './source.ts';

/**
 * Esplora REST adapter (Blockstream's electrs HTTP API, as documented in its API.md):
 * GET /blocks/tip/height, /block-height/:h, /block/:hash/raw, /tx/:txid/raw, /fee-estimates,
 * /address/:address/utxo; POST /tx. Bounded by `timeoutMs`; fails closed with typed errors.
 */
export interface EsploraOptions {
  baseUrl: string;
  timeoutMs?: number;
}

export class EsploraClient implements BitcoinChainSource {
  private readonly timeoutMs: number;
  constructor(private readonly o: EsploraOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  private async get(path: string, kind: 'text' | 'bytes' | 'json', init: RequestInit = {}): Promise<unknown> {
    const res = await fetchWithTimeout(`${this.o.baseUrl}${path}`, init, this.timeoutMs);
    if (!res.ok) {
      const text = await bodyWithTimeout(res.text(), this.timeoutMs).catch(() => '');
      throw new BitcoinNodeError('NODE_HTTP_ERROR', `HTTP ${res.status} for ${path}`, {
        details: { status: res.status, body: text.slice(0, 200) },
      });
    }
    if (kind === 'bytes') return new Uint8Array(await bodyWithTimeout(res.arrayBuffer(), this.timeoutMs));
    const text = await bodyWithTimeout(res.text(), this.timeoutMs);
    if (kind === 'text') return text.trim();
    try {
      return JSON.parse(text);
    } catch {
      bad(`JSON from ${path}`, text);
    }
  }

  async tipHeight(): Promise<number> {
    const t = (await this.get('/blocks/tip/height', 'text')) as string;
    if (!/^(0|[1-9][0-9]{0,8})$/.test(t)) bad('tip height', t);
    return Number(t);
  }

  async blockHash(height: number): Promise<string> {
    const h = (await this.get(`/block-height/${height}`, 'text')) as string;
    if (!HASH_RE.test(h)) bad('block hash', h);
    return h;
  }

  async rawBlock(hash: string): Promise<Uint8Array> {
    if (!HASH_RE.test(hash)) throw new BitcoinNodeError('NODE_BAD_RESPONSE', 'bad block hash requested');
    return (await this.get(`/block/${hash}/raw`, 'bytes')) as Uint8Array;
  }

  async rawTransaction(txid: string): Promise<Uint8Array> {
    if (!HASH_RE.test(txid)) throw new BitcoinNodeError('NODE_BAD_RESPONSE', 'bad txid requested');
    return (await this.get(`/tx/${txid}/raw`, 'bytes')) as Uint8Array;
  }

  async estimateFeeRate(targetBlocks: number): Promise<number> {
    const est = (await this.get('/fee-estimates', 'json')) as Record<string, unknown>;
    if (!est || typeof est !== 'object') bad('fee estimates', est);
    // Keys are confirmation targets; take the estimate for the smallest target ≥ the one asked.
    const targets = Object.keys(est)
      .map(Number)
      .filter((k) => Number.isInteger(k) && k >= targetBlocks)
      .sort((a, b) => a - b);
    const rate = targets.length ? est[String(targets[0])] : undefined;
    if (typeof rate !== 'number' || !(rate > 0)) bad('fee estimate', rate);
    return rate;
  }

  async broadcast(raw: Uint8Array): Promise<string> {
    const txid = (await this.get('/tx', 'text', { method: 'POST', body: toHex(raw) })) as string;
    if (!HASH_RE.test(txid)) bad('txid', txid);
    return txid;
  }

  async addressUtxos(address: string): Promise<NodeUtxo[]> {
    const list = await this.get(`/address/${encodeURIComponent(address)}/utxo`, 'json');
    if (!Array.isArray(list)) bad('utxo list', list);
    return list.map((u) => {
      const x = u as { txid: unknown; vout: unknown; value: unknown; status?: { block_height?: unknown } };
      if (typeof x.txid !== 'string' || !HASH_RE.test(x.txid)) bad('utxo txid', x.txid);
      if (!Number.isSafeInteger(x.vout) || (x.vout as number) < 0) bad('utxo vout', x.vout);
      if (!Number.isSafeInteger(x.value) || (x.value as number) < 0) bad('utxo value', x.value);
      return {
        txid: x.txid,
        vout: x.vout as number,
        value: BigInt(x.value as number),
        address,
        height: typeof x.status?.block_height === 'number' ? x.status.block_height : undefined,
      };
    });
  }
}
