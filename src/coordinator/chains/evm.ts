import {
  type Chain,
  createPublicClient,
  defineChain,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  parseTransaction,
  serializeTransaction,
  type Transport,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { SignatureResult, TxPayload } from '../../core/auth/index.ts';
import { parseChainId } from '../../core/chains/caip.ts';
import {
  type Address,
  computeSafeTxHashes,
  decodeCall,
  decodeUnsignedEip1559,
  type EvmWallet,
  parseEvmWallet,
  parseSafeTxJson,
  parseSafeVersion,
  safeTxToJson,
} from '../../core/chains/evm/index.ts';
import { CustosError } from '../../core/errors/base.ts';
import type { WalletRecord } from '../../core/governance/types.ts';
import type { Intent } from '../../core/intent/index.ts';
import { buildHotTransfer, buildSafeTransfer } from '../../evm/build.ts';
import { encodeExecTransaction } from '../../evm/execute.ts';
import type { KnownSafeTx, KnownTx } from '../../evm/known-store.ts';
import { classifyReceipt, receiptStatuses, type TxStatus } from '../../evm/receipts.ts';
import { keepAliveFetch, viemFetch } from '../../net/http-fetch.ts';
import { Sampled } from '../sampled.ts';
import type { ChainPort } from '../workflow/ports.ts';
import { RelayerNonces, signCarrier } from './evm-relayer.ts';

export { RelayerNonces } from './evm-relayer.ts';

type Client = PublicClient<Transport, Chain>;

export interface EvmChainOptions {
  /** CAIP-2 id, e.g. eip155:31337 */
  chain: string;
  rpcUrl: string;
  /** Wallet records of this chain (from the trust bundle). */
  wallets: () => WalletRecord[];
  /**
   * Relayer key that submits Safe execTransaction calls (pays gas only; it cannot move funds —
   * the owners' signatures do). Not needed for hot wallets.
   */
  relayerKey?: Hex;
  /**
   * Where the watchtower learns what Custos itself signed and sent (I7): every signed safeTxHash
   * and every transaction hash is recorded here BEFORE the transaction is handed back for
   * broadcast, so the coordinator's own withdrawals are never flagged as unmatched outflows.
   */
  known?: KnownRecorder;
  /**
   * JSON-RPC batching (default on): calls made in the same tick share one HTTP request. Off for
   * an endpoint that refuses batch arrays.
   */
  batch?: boolean;
  /**
   * Gas limit of the relayer's execTransaction carrier: a fixed limit (default SAFE_EXEC_GAS_LIMIT)
   * or 'estimate' (eth_estimateGas per withdrawal, +20%) for chains whose gas units are not the
   * EVM's alone (Arbitrum charges L1 data in L2 gas) or tokens with expensive transfer hooks.
   */
  safeExecGas?: bigint | 'estimate';
  /**
   * How long the relayer's pending count and the fee estimate read from the node are reused
   * (default 1,000 ms; 0 reads them for every carrier). Both are re-read in the background of
   * many finalizes at once, never per finalize.
   */
  sampleMs?: number;
}

/**
 * Default carrier gas limit. Custos builds every SafeTx with operation CALL, safeTxGas 0 and
 * gasPrice 0 (src/evm/build.ts), so from Safe 1.3.0 on a failing inner call reverts the whole
 * execTransaction (GS013): too little gas can never consume the Safe nonce or half-execute, it
 * mines as a reverted carrier ('failed'). The relayer pays for gas used, not for the limit. A
 * 2-of-3 Safe ERC-20 or ETH transfer to a fresh address uses about 70–90k gas (measured on
 * anvil), so 500k leaves room for guards, bigger owner sets and tokens with hooks.
 */
export const SAFE_EXEC_GAS_LIMIT = 500_000n;

/** The writer half of `evmKnownStore` (src/evm/known-store.ts). */
export interface KnownRecorder {
  recordSafeTx(r: KnownSafeTx): Promise<void>;
  recordTx(r: KnownTx): Promise<void>;
}

/**
 * EVM chain adapter for the workflow: builds Safe transactions and hot-wallet EIP-1559
 * transactions with src/evm, assembles the signed transaction from co-signer signatures, sends it
 * and reads its outcome. The relayer transaction for a Safe is signed once (nonce fixed) and
 * frozen in the outbox by the workflow, so a resumed broadcast re-sends the same bytes; a second
 * execution of one SafeTx is impossible anyway (the Safe nonce moves on).
 */
export class EvmChain implements ChainPort {
  readonly client: Client;
  private relayerLock: Promise<unknown> = Promise.resolve();
  private readonly relayerNonce = new RelayerNonces();
  /** The endpoint's chain id, checked against the configured chain once per process. */
  private readonly rpcChainId: Sampled<bigint>;
  private readonly relayerPending: Sampled<number> | undefined;
  /** Derived once: deriving an address from the key is a scalar multiplication. */
  private readonly relayerAddress: Address | undefined;
  private readonly fees: Sampled<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }>;
  /** Parsed wallets per wallet list (see `wallet`). */
  private readonly parsed = new WeakMap<readonly WalletRecord[], Map<string, EvmWallet>>();

  constructor(private readonly o: EvmChainOptions) {
    const c = parseChainId(o.chain, 'chain');
    if (c.namespace !== 'eip155') throw new CustosError('CHAIN_MISMATCH', 'not an EVM chain');
    const chain = defineChain({
      id: Number(c.chainId),
      name: o.chain,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [o.rpcUrl] } },
    });
    this.client = createPublicClient({
      chain,
      transport: http(o.rpcUrl, { batch: o.batch !== false, fetchFn: viemFetch(keepAliveFetch()) }),
    }) as Client;
    const sampleMs = o.sampleMs ?? 1000;
    this.rpcChainId = new Sampled(async () => BigInt(await this.client.getChainId()), Infinity);
    const relayer = o.relayerKey ? privateKeyToAccount(o.relayerKey).address : undefined;
    this.relayerAddress = relayer;
    this.relayerPending = relayer
      ? new Sampled(
          () => this.client.getTransactionCount({ address: relayer, blockTag: 'pending' }),
          sampleMs,
        )
      : undefined;
    this.fees = new Sampled(() => this.client.estimateFeesPerGas(), sampleMs);
  }

  private wallet(id: string): EvmWallet {
    const list = this.o.wallets();
    // The parsed wallets of this list, by id: built once per list (a new bundle is a new list),
    // not a scan and a schema parse per build and per finalize.
    let byId = this.parsed.get(list);
    if (!byId) {
      byId = new Map();
      this.parsed.set(list, byId);
    }
    const cached = byId.get(id);
    if (cached) return cached;
    const rec = list.find((w) => w.id === id);
    if (!rec || rec.chain !== this.o.chain) {
      throw new CustosError('UNKNOWN_WALLET', 'no EVM wallet with this id on this chain', {
        details: { id },
      });
    }
    const w = parseEvmWallet(rec);
    byId.set(id, w);
    return w;
  }

  async build(intent: Intent): Promise<TxPayload> {
    const w = this.wallet(intent.wallet);
    if (w.type === 'safe') {
      const fields = await buildSafeTransfer(intent, w, this.client, await this.rpcChainId.get(0));
      return {
        kind: 'safe',
        safe: w.config.address,
        safeTx: safeTxToJson(fields) as Record<string, unknown>,
      };
    }
    const built = await buildHotTransfer(intent, w, this.client, undefined, await this.rpcChainId.get(0));
    return { kind: 'evm-hot', unsignedTx: built.unsignedTx };
  }

  async finalize(
    intent: Intent,
    tx: TxPayload,
    sigs: SignatureResult[],
  ): Promise<{ raw: string; txHash: string }> {
    if (tx.kind === 'evm-hot') {
      const s = sigs.find((x) => x.kind === 'evm-hot');
      if (s?.kind !== 'evm-hot') throw new CustosError('SIGNATURES_MISSING', 'no hot-wallet signature');
      const parsed = parseTransaction(tx.unsignedTx as Hex);
      const raw = serializeTransaction(parsed as Parameters<typeof serializeTransaction>[0], {
        r: s.r as Hex,
        s: s.s as Hex,
        yParity: s.yParity,
      });
      const txHash = keccak256(raw);
      await this.o.known?.recordTx({
        txHash,
        wallet: intent.wallet,
        intentId: intent.id,
        kind: 'hot',
        at: new Date().toISOString(),
      });
      return { raw, txHash };
    }
    if (tx.kind !== 'safe') throw new CustosError('CHAIN_MISMATCH', 'not an EVM transaction');
    if (!this.o.relayerKey)
      throw new CustosError('RELAYER_MISSING', 'no relayer key configured for Safe execution');
    const w = this.wallet(intent.wallet);
    const f = parseSafeTxJson(tx.safeTx);
    const owners = sigs.flatMap((s) =>
      s.kind === 'safe' ? [{ owner: s.signer as Address, signature: s.signature as Hex }] : [],
    );
    if (w.type === 'safe' && owners.length < w.config.threshold) {
      throw new CustosError(
        'SIGNATURES_MISSING',
        `${owners.length} of ${w.config.threshold} owner signatures`,
      );
    }
    let safeTxHash: Hex | undefined;
    if (w.type === 'safe' && this.o.known) {
      safeTxHash = computeSafeTxHashes(
        parseSafeVersion(w.config.version),
        BigInt(this.client.chain.id),
        w.config.address,
        f,
      ).safeTxHash;
    }
    const at = new Date().toISOString();
    const safeKnown = safeTxHash
      ? { wallet: intent.wallet, safeTxHash, nonce: f.nonce, intentId: intent.id, at }
      : undefined;
    let signed: { raw: Hex; txHash: Hex };
    try {
      signed = await this.signExec(tx.safe as Address, encodeExecTransaction(f, owners), this.o.relayerKey);
    } catch (e) {
      // The owners' signatures exist whether or not the carrier could be signed: known all the same.
      if (safeKnown) await this.o.known?.recordSafeTx(safeKnown);
      throw e;
    }
    // Both known before anything is sent (I7), recorded in the same turn so that they go in with
    // one statement (evmKnownStore).
    await Promise.all([
      safeKnown && this.o.known?.recordSafeTx(safeKnown),
      this.o.known?.recordTx({
        txHash: signed.txHash,
        wallet: intent.wallet,
        intentId: intent.id,
        kind: 'safe-exec',
        ...(safeTxHash ? { safeTxHash } : {}),
        at,
      }),
    ]);
    return signed;
  }

  /** The relayer's execTransaction carrier to `safe`, signed with the next relayer nonce. */
  private async signExec(safe: Address, data: Hex, relayerKey: Hex): Promise<{ raw: Hex; txHash: Hex }> {
    const [gas, fees] = await Promise.all([
      this.o.safeExecGas === 'estimate'
        ? this.client
            .estimateGas({ account: this.relayerAddress!, to: safe, data })
            .then((g) => (g * 12n) / 10n)
        : (this.o.safeExecGas ?? SAFE_EXEC_GAS_LIMIT),
      this.fees.get(Date.now()),
    ]);
    const pendingCount = this.relayerPending!;
    // One relayer nonce at a time in this process: the signed relayer tx is frozen in the outbox
    // before it is sent, so two intents must not be given the same nonce (RelayerNonces).
    const run = this.relayerLock.then(async () => {
      let pending = await pendingCount.get(Date.now());
      // Filling a gap re-issues a nonce below ones already given: only on a fresh count.
      if (this.relayerNonce.wouldFillGap(pending, Date.now()))
        pending = await pendingCount.get(Date.now(), true);
      const nonce = this.relayerNonce.next(pending, Date.now());
      return signCarrier(
        {
          chainId: this.client.chain.id,
          nonce,
          to: safe,
          data,
          gas,
          maxFeePerGas: fees.maxFeePerGas,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        },
        relayerKey,
      );
    });
    this.relayerLock = run.catch(() => undefined);
    return run;
  }

  async broadcast(raw: string): Promise<void> {
    try {
      await this.client.sendRawTransaction({ serializedTransaction: raw as Hex });
    } catch (e) {
      // Re-sending bytes the node already has (resume after a crash) is not a failure.
      const msg = e instanceof Error ? e.message : String(e);
      if (/already known|known transaction|nonce too low|already imported/i.test(msg)) {
        const hash = keccak256(raw as Hex);
        const r = await this.client.getTransactionReceipt({ hash }).catch(() => undefined);
        const pending = await this.client.getTransaction({ hash }).catch(() => undefined);
        if (r || pending) return;
      }
      throw e;
    }
  }

  async status(txHash: string): Promise<TxStatus> {
    const r = await this.client.getTransactionReceipt({ hash: txHash as Hex }).catch(() => undefined);
    return classifyReceipt(r, txHash);
  }

  /** Receipts of many carriers in one JSON-RPC batch request, each classified as `status` does. */
  async statusMany(txHashes: readonly string[]): Promise<Map<string, TxStatus>> {
    if (this.o.batch !== false) {
      try {
        return await receiptStatuses(this.o.rpcUrl, txHashes);
      } catch (e) {
        if (!(e instanceof CustosError && e.code === 'RPC_BATCH_FAILED')) throw e;
      }
    }
    // No batches on this endpoint, or the batch failed as a whole: one lookup per hash, each
    // pending on failure exactly as `status` is (the node being down costs one more request).
    const unique = [...new Set(txHashes)];
    const all = await Promise.all(unique.map(async (h) => [h, await this.status(h)] as const));
    return new Map(all);
  }

  decode(tx: TxPayload): unknown {
    if (tx.kind === 'safe') {
      const f = parseSafeTxJson(tx.safeTx);
      const call = decodeCall(f.to, f.value, f.data);
      return {
        kind: 'safe',
        safe: tx.safe,
        nonce: f.nonce.toString(),
        operation: f.operation,
        call: jsonSafe(call),
      };
    }
    if (tx.kind === 'evm-hot') {
      const d = decodeUnsignedEip1559(tx.unsignedTx as Hex);
      return d.ok
        ? { kind: 'evm-hot', ...(jsonSafe(d.value) as object) }
        : { kind: 'evm-hot', error: d.code };
    }
    return { kind: tx.kind };
  }
}

/** bigint → decimal string, recursively (API responses are JSON). */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}
