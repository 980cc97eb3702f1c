import { base64, hex } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { combineFinalizeExtract } from '../../bitcoin/finalize.ts';
import type { BitcoinCoreRpc } from '../../bitcoin/rpc.ts';
import { BitcoinNodeError } from '../../bitcoin/source.ts';
import { walletUtxos } from '../../bitcoin/utxos.ts';
import { recordSignedTx } from '../../bitcoin/watchtower.ts';
import type { SignatureResult, TxPayload } from '../../core/auth/index.ts';
import { buildPsbt } from '../../core/chains/bitcoin/build.ts';
import { PSBT_OPTS } from '../../core/chains/bitcoin/psbt/decode.ts';
import { type BitcoinWallet, parseBitcoinWalletRecord } from '../../core/chains/bitcoin/wallet.ts';
import { parseChainId } from '../../core/chains/caip.ts';
import { CustosError } from '../../core/errors/base.ts';
import type { WalletRecord } from '../../core/governance/types.ts';
import type { Intent } from '../../core/intent/index.ts';
import type { Queryable } from '../../store/db.ts';
import type { ChainPort } from '../workflow/ports.ts';

export interface BitcoinChainOptions {
  /** CAIP-2 id, e.g. bip122:000000000019d6689c085ae165831e93 */
  chain: string;
  /** The coordinator's node: a Bitcoin Core watch-only descriptor wallet holding the custody descriptors. */
  rpc: BitcoinCoreRpc;
  /** Change-index allocation (migration 0401) and bitcoin_signed_txs (the watchtower's "ours" list). */
  db: Queryable;
  /** Wallet records of this chain (from the trust bundle). */
  wallets: () => WalletRecord[];
  /** estimatesmartfee confirmation target (blocks). Default 6. */
  feeTargetBlocks?: number;
  /** Highest receive/change index scanned when mapping node UTXOs back to the descriptor. Default 200. */
  scanUpTo?: number;
  /** UTXOs spent need this many confirmations; the sent transaction is confirmed at this depth. Default 1. */
  minConf?: number;
}

/**
 * Bitcoin chain adapter for the workflow: builds the unsigned PSBT from the node's UTXOs (change to
 * a freshly allocated internal index), combines and finalizes the co-signers' PSBTs with the
 * two-library check of src/bitcoin/finalize.ts, records the txid for the watchtower BEFORE it is
 * handed back for broadcast (I7), sends it and reads its depth. The PSBT is frozen in the outbox by
 * the workflow, so a resumed step never re-selects coins or allocates another change address.
 */
export class BitcoinChain implements ChainPort {
  constructor(private readonly o: BitcoinChainOptions) {
    const c = parseChainId(o.chain, 'chain');
    if (c.namespace !== 'bip122') throw new CustosError('CHAIN_MISMATCH', 'not a Bitcoin chain');
  }

  private wallet(id: string): BitcoinWallet {
    const rec = this.o.wallets().find((w) => w.id === id);
    if (!rec || rec.chain !== this.o.chain) {
      throw new CustosError('UNKNOWN_WALLET', 'no Bitcoin wallet with this id on this chain', {
        details: { id },
      });
    }
    return parseBitcoinWalletRecord(rec);
  }

  /**
   * Hands out the wallet's next change index, once: one UPSERT … RETURNING is atomic on both
   * backends, so concurrent builds (other wallets' slots, other coordinator processes) never get
   * the same index and a change address is never reused.
   */
  async allocateChangeIndex(wallet: string, tx: Queryable = this.o.db): Promise<number> {
    const r = await tx.query<{ idx: number }>(
      `INSERT INTO bitcoin_change_index (chain, wallet, next_index) VALUES ($1, $2, 1)
       ON CONFLICT (chain, wallet) DO UPDATE SET next_index = bitcoin_change_index.next_index + 1
       RETURNING next_index - 1 AS idx`,
      [this.o.chain, wallet],
    );
    return Number(r.rows[0]!.idx);
  }

  async build(intent: Intent, tx?: Queryable): Promise<TxPayload> {
    const w = this.wallet(intent.wallet);
    const changeIndex = await this.allocateChangeIndex(intent.wallet, tx);
    if (changeIndex > w.maxIndex)
      throw new CustosError('CHANGE_INDEX_EXHAUSTED', 'the wallet has no unused change index left', {
        details: { wallet: intent.wallet, changeIndex },
      });
    // No estimate → BitcoinNodeError (fail closed, never a guessed rate); below the relay floor → 1 sat/vB.
    const feeRate = Math.max(1, await this.o.rpc.estimateFeeRate(this.o.feeTargetBlocks ?? 6));
    const upTo = Math.max(this.o.scanUpTo ?? 200, changeIndex);
    const utxos = await walletUtxos(this.o.rpc, w, upTo, this.o.minConf ?? 1);
    const built = buildPsbt(intent, w, utxos, feeRate, changeIndex);
    return { kind: 'psbt', psbt: base64.encode(built.psbt) };
  }

  async finalize(
    intent: Intent,
    tx: TxPayload,
    sigs: SignatureResult[],
  ): Promise<{ raw: string; txHash: string }> {
    if (tx.kind !== 'psbt') throw new CustosError('CHAIN_MISMATCH', 'not a Bitcoin transaction');
    const signed = sigs.flatMap((s) => (s.kind === 'psbt' ? [base64.decode(s.psbt)] : []));
    if (signed.length === 0) throw new CustosError('SIGNATURES_MISSING', 'no co-signer PSBT');
    // The recorded unsigned PSBT goes first: combining refuses any co-signer PSBT that describes
    // another transaction (PSBT_COMBINE_MISMATCH), so only what was frozen can be finalized.
    const final = combineFinalizeExtract([base64.decode(tx.psbt), ...signed]);
    // I7: recorded before the raw transaction leaves this function, so our own spend is never an
    // UNMATCHED_OUTFLOW for the Bitcoin watchtower.
    await recordSignedTx(this.o.db, this.o.chain, final.txid, intent.id);
    return { raw: hex.encode(final.raw), txHash: final.txid };
  }

  async broadcast(raw: string): Promise<void> {
    try {
      await this.o.rpc.broadcast(hex.decode(raw));
    } catch (e) {
      // Re-sending bytes the node already has (resume after a crash) is not a failure:
      // RPC_VERIFY_ALREADY_IN_CHAIN (-27) or a mempool duplicate.
      if (
        e instanceof BitcoinNodeError &&
        e.code === 'NODE_RPC_ERROR' &&
        (e.details?.rpcCode === -27 ||
          /already in (the )?(block ?chain|utxo set)|txn-already-(known|in-mempool)/i.test(e.shortMessage))
      )
        return;
      throw e;
    }
  }

  async status(txHash: string): Promise<'pending' | 'confirmed' | 'failed'> {
    let r: { confirmations?: unknown };
    try {
      r = await this.o.rpc.call<{ confirmations?: unknown }>('gettransaction', [txHash], true);
    } catch (e) {
      // -5: not (yet) in the wallet; anything else (time-out, node down) also reads as pending.
      if (e instanceof BitcoinNodeError) return 'pending';
      throw e;
    }
    return this.depth(r);
  }

  /**
   * Many transactions' depth in one JSON-RPC batch request (gettransaction × n), each classified as
   * `status` does: an entry with an error, or a batch the node did not answer, reads as pending.
   */
  async statusMany(txHashes: readonly string[]): Promise<Map<string, 'pending' | 'confirmed' | 'failed'>> {
    const unique = [...new Set(txHashes)];
    const out = new Map<string, 'pending' | 'confirmed' | 'failed'>();
    let answers: Awaited<ReturnType<BitcoinCoreRpc['callMany']>>;
    try {
      answers = await this.o.rpc.callMany<{ confirmations?: unknown }>(
        unique.map((h) => ({ method: 'gettransaction', params: [h] })),
        true,
      );
    } catch (e) {
      if (!(e instanceof BitcoinNodeError)) throw e;
      answers = unique.map(() => ({ ok: false, error: e }));
    }
    unique.forEach((h, i) => {
      const a = answers[i]!;
      out.set(h, a.ok ? this.depth(a.result as { confirmations?: unknown }) : 'pending');
    });
    return out;
  }

  private depth(r: { confirmations?: unknown } | null | undefined): 'pending' | 'confirmed' | 'failed' {
    const c = typeof r?.confirmations === 'number' ? r.confirmations : 0;
    // Negative confirmations: the transaction conflicts with one in the chain (double-spent).
    if (c < 0) return 'failed';
    return c >= (this.o.minConf ?? 1) ? 'confirmed' : 'pending';
  }

  decode(tx: TxPayload): unknown {
    if (tx.kind !== 'psbt') return { kind: tx.kind };
    try {
      const t = Transaction.fromPSBT(base64.decode(tx.psbt), PSBT_OPTS);
      const inputs = [];
      for (let i = 0; i < t.inputsLength; i++) {
        const u = t.getInput(i);
        inputs.push({ txid: hex.encode(u.txid!), vout: u.index! });
      }
      const outputs = [];
      for (let i = 0; i < t.outputsLength; i++) {
        const o = t.getOutput(i);
        outputs.push({ script: hex.encode(o.script!), amount: o.amount!.toString() });
      }
      return { kind: 'psbt', txid: t.id, inputs, outputs };
    } catch {
      return { kind: 'psbt', error: 'PSBT_INVALID' };
    }
  }
}
