import {
  type Chain,
  createPublicClient,
  defineChain,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  parseEventLogs,
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
import { execTransactionArgs } from '../../evm/execute.ts';
import { safeAbi } from '../../evm/safe-abi.ts';
import type { ChainPort } from '../workflow/ports.ts';

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
}

/** The writer half of `evmKnownStore` (src/evm/known-store.ts). */
export interface KnownRecorder {
  recordSafeTx(r: {
    wallet: string;
    safeTxHash: Hex;
    nonce: bigint;
    intentId: string;
    at: string;
  }): Promise<void>;
  recordTx(r: {
    txHash: Hex;
    wallet: string;
    intentId: string;
    kind: 'safe-exec' | 'hot';
    safeTxHash?: Hex;
    at: string;
  }): Promise<void>;
}

const executionFailure = [
  {
    type: 'event',
    name: 'ExecutionFailure',
    inputs: [
      { name: 'txHash', type: 'bytes32', indexed: false },
      { name: 'payment', type: 'uint256', indexed: false },
    ],
  },
] as const;

/**
 * EVM chain adapter for the workflow: builds Safe transactions and hot-wallet EIP-1559
 * transactions with src/evm, assembles the signed transaction from co-signer signatures, sends it
 * and reads its outcome. The relayer transaction for a Safe is signed once (nonce fixed) and
 * frozen in the outbox by the workflow, so a resumed broadcast re-sends the same bytes; a second
 * execution of one SafeTx is impossible anyway (the Safe nonce moves on).
 */
/**
 * Relayer nonces handed out by this process. A carrier transaction is frozen in the outbox when it
 * is signed and sent later, so the node's pending count does not yet include the ones handed out
 * but not sent: the next nonce is the larger of that count and one past the last one given. A
 * nonce given to a carrier that never reached the node (a finalize whose outbox record lost a
 * race) leaves a gap that holds every later carrier back; when the node's pending count has not
 * moved for `gapMs` while we are ahead of it, the gap is filled by handing out the node's count.
 */
export class RelayerNonces {
  private nextNonce = 0;
  private lastPending = -1;
  private pendingSince = 0;

  constructor(private readonly gapMs = 15_000) {}

  next(pending: number, nowMs: number): number {
    if (pending !== this.lastPending) {
      this.lastPending = pending;
      this.pendingSince = nowMs;
    }
    const stuck = pending < this.nextNonce && nowMs - this.pendingSince >= this.gapMs;
    const nonce = stuck ? pending : Math.max(pending, this.nextNonce);
    if (stuck) this.pendingSince = nowMs;
    this.nextNonce = Math.max(this.nextNonce, nonce + 1);
    return nonce;
  }
}

export class EvmChain implements ChainPort {
  readonly client: Client;
  private relayerLock: Promise<unknown> = Promise.resolve();
  private readonly relayerNonce = new RelayerNonces();

  constructor(private readonly o: EvmChainOptions) {
    const c = parseChainId(o.chain, 'chain');
    if (c.namespace !== 'eip155') throw new CustosError('CHAIN_MISMATCH', 'not an EVM chain');
    const chain = defineChain({
      id: Number(c.chainId),
      name: o.chain,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [o.rpcUrl] } },
    });
    this.client = createPublicClient({ chain, transport: http(o.rpcUrl) }) as Client;
  }

  private wallet(id: string): EvmWallet {
    const rec = this.o.wallets().find((w) => w.id === id);
    if (!rec || rec.chain !== this.o.chain) {
      throw new CustosError('UNKNOWN_WALLET', 'no EVM wallet with this id on this chain', {
        details: { id },
      });
    }
    return parseEvmWallet(rec);
  }

  async build(intent: Intent): Promise<TxPayload> {
    const w = this.wallet(intent.wallet);
    if (w.type === 'safe') {
      const fields = await buildSafeTransfer(intent, w, this.client);
      return {
        kind: 'safe',
        safe: w.config.address,
        safeTx: safeTxToJson(fields) as Record<string, unknown>,
      };
    }
    const built = await buildHotTransfer(intent, w, this.client);
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
      await this.o.known.recordSafeTx({
        wallet: intent.wallet,
        safeTxHash,
        nonce: f.nonce,
        intentId: intent.id,
        at: new Date().toISOString(),
      });
    }
    const data = encodeFunctionData({
      abi: safeAbi,
      functionName: 'execTransaction',
      args: execTransactionArgs(f, owners),
    });
    const account = privateKeyToAccount(this.o.relayerKey);
    // One relayer nonce at a time in this process: the signed relayer tx is frozen in the outbox
    // before it is sent, so two intents must not be given the same nonce (RelayerNonces).
    const run = this.relayerLock.then(async () => {
      const [pending, fees, gas] = await Promise.all([
        this.client.getTransactionCount({ address: account.address, blockTag: 'pending' }),
        this.client.estimateFeesPerGas(),
        this.client.estimateGas({ account: account.address, to: tx.safe as Address, data }),
      ]);
      const nonce = this.relayerNonce.next(pending, Date.now());
      const raw = await account.signTransaction({
        type: 'eip1559',
        chainId: this.client.chain.id,
        nonce,
        to: tx.safe as Address,
        data,
        gas: (gas * 12n) / 10n,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      });
      return { raw, txHash: keccak256(raw) };
    });
    this.relayerLock = run.catch(() => undefined);
    const signed = await run;
    await this.o.known?.recordTx({
      txHash: signed.txHash,
      wallet: intent.wallet,
      intentId: intent.id,
      kind: 'safe-exec',
      ...(safeTxHash ? { safeTxHash } : {}),
      at: new Date().toISOString(),
    });
    return signed;
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

  async status(txHash: string): Promise<'pending' | 'confirmed' | 'failed'> {
    const r = await this.client.getTransactionReceipt({ hash: txHash as Hex }).catch(() => undefined);
    if (!r) return 'pending';
    if (r.status !== 'success') return 'failed';
    // A Safe call whose inner transfer fails still mines with status 1 and ExecutionFailure.
    const failed = parseEventLogs({ abi: executionFailure, logs: r.logs, strict: false });
    return failed.length > 0 ? 'failed' : 'confirmed';
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
