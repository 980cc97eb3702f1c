import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import { scriptToAddress } from '../core/chains/bitcoin/address.ts';
import { parseRawTx, reversedHex } from '../core/chains/bitcoin/tx/raw.ts';
import { CustosError } from '../core/errors/base.ts';
import {
  type AssembledBlock,
  assembleBlock,
  coinbaseTx,
  regtestGenesis,
  witnessCommitment,
} from './regtest-block.ts';

/**
 * LOCAL REGTEST CHAIN SIMULATOR — a test double of a Bitcoin Core regtest node, NOT a node. No
 * bitcoind can run where `custos up` and the tests run (and there is no Bitcoin node npm
 * package), so this keeps a real regtest chain in memory: it starts from Bitcoin Core's regtest
 * genesis block and mines every later block itself — coinbase with the BIP 34 height and the
 * BIP 141 witness commitment, correct merkle root, header linked to its parent, nonce ground to
 * the regtest target (0x207fffff; real proof of work, about two hashes per block).
 *
 * What it checks when it accepts a transaction (`accept`): it parses (strictly, our own parser),
 * is not a coinbase, is not already in the chain, has inputs and outputs, spends no outpoint twice,
 * every input exists and is unspent (no double spend), a coinbase output is 100 blocks deep, output
 * amounts are in range and outputs do not exceed inputs. What it does NOT check: scripts and
 * signatures (there is no script interpreter here — a transaction with a wrong signature would be
 * mined), standardness, weight and sigop limits, locktimes and BIP 68 sequences, fee floors. Every
 * accepted transaction is mined at once in its own block (no mempool), so one confirmation follows
 * every broadcast. Nothing is persisted: a restart is a fresh chain from genesis.
 *
 * A faucet key (P2WPKH, generated per run) receives the coinbases; `fund` pays from its mature
 * coinbase outputs in a signed transaction that goes through `accept` like any other.
 */
export interface SimUtxo {
  value: bigint;
  /** scriptPubKey, hex */
  script: string;
  height: number;
  coinbase: boolean;
}

export interface SimBlock extends AssembledBlock {
  height: number;
}

export class SimRejection extends CustosError {
  override readonly name = 'SimRejection';
  constructor(
    readonly rpcCode: number,
    reason: string,
  ) {
    super('SIM_TX_REJECTED', reason, { details: { rpcCode } });
  }
}

const COINBASE_MATURITY = 100;
const MAX_MONEY = 21_000_000n * 100_000_000n;
/** Regtest halves the subsidy every 150 blocks (chainparams.cpp). */
const HALVING_INTERVAL = 150;
const FAUCET_FEE = 10_000n;

export const outpointKey = (txid: string, vout: number) => `${txid}:${vout}`;

export class RegtestChain {
  readonly blocks: SimBlock[] = [];
  readonly byHash = new Map<string, SimBlock>();
  /** Every transaction in the chain (Core with -txindex): raw bytes and block height. */
  readonly txs = new Map<string, { raw: Uint8Array; height: number }>();
  readonly utxos = new Map<string, SimUtxo>();
  private readonly faucetKey = secp256k1.utils.randomSecretKey();
  readonly faucetScript: Uint8Array;

  constructor(private readonly clock: () => number = () => Math.floor(Date.now() / 1000)) {
    this.faucetScript = p2wpkh(secp256k1.getPublicKey(this.faucetKey, true)).script;
    this.append(regtestGenesis(), []);
  }

  get height(): number {
    return this.blocks.length - 1;
  }

  get tip(): SimBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  /** Mines one block over `txs` (already validated), the coinbase paying subsidy + fees to `to`. */
  mine(txs: Uint8Array[] = [], to: Uint8Array = this.faucetScript, fees = 0n): SimBlock {
    const height = this.height + 1;
    const subsidy = (50n * 100_000_000n) >> BigInt(Math.floor(height / HALVING_INTERVAL));
    const segwit = txs.some((t) => parseRawTx(t).segwit);
    const cb = coinbaseTx(height, [{ script: to, amount: subsidy + fees }], {
      ...(segwit ? { witnessCommitment: witnessCommitment(txs) } : {}),
    });
    const b = assembleBlock({
      prevHash: this.tip.hash,
      txs: [cb, ...txs],
      time: Math.max(this.tip.time + 1, this.clock()),
      mine: true,
    });
    return this.append(b, [cb, ...txs]);
  }

  private append(b: AssembledBlock, txs: Uint8Array[]): SimBlock {
    const block = { ...b, height: this.blocks.length };
    this.blocks.push(block);
    this.byHash.set(block.hash, block);
    txs.forEach((raw, i) => {
      const t = parseRawTx(raw);
      if (i > 0)
        for (const inp of t.inputs) this.utxos.delete(outpointKey(reversedHex(inp.prevHash), inp.vout));
      this.txs.set(t.txid, { raw, height: block.height });
      t.outputs.forEach((o, vout) => {
        // The genesis coinbase is unspendable (Core never added it to the UTXO set).
        if (block.height === 0) return;
        this.utxos.set(outpointKey(t.txid, vout), {
          value: o.amount,
          script: hex.encode(o.script),
          height: block.height,
          coinbase: i === 0,
        });
      });
    });
    return block;
  }

  /**
   * Structural validation (see the class comment for what is not checked), then mines the
   * transaction in a new block. Rejections carry Bitcoin Core's RPC codes and reject reasons.
   */
  accept(raw: Uint8Array): { txid: string; block: SimBlock } {
    let t: ReturnType<typeof parseRawTx>;
    try {
      t = parseRawTx(raw);
    } catch {
      throw new SimRejection(-22, 'TX decode failed');
    }
    if (this.txs.has(t.txid)) throw new SimRejection(-27, 'Transaction already in block chain');
    if (t.inputs.length === 0) throw new SimRejection(-26, 'bad-txns-vin-empty');
    if (t.outputs.length === 0) throw new SimRejection(-26, 'bad-txns-vout-empty');
    const seen = new Set<string>();
    let inSum = 0n;
    for (const inp of t.inputs) {
      const key = outpointKey(reversedHex(inp.prevHash), inp.vout);
      if (inp.vout === 0xffffffff && inp.prevHash.every((x) => x === 0))
        throw new SimRejection(-26, 'coinbase');
      if (seen.has(key)) throw new SimRejection(-26, 'bad-txns-inputs-duplicate');
      seen.add(key);
      const u = this.utxos.get(key);
      if (!u) throw new SimRejection(-25, 'bad-txns-inputs-missingorspent');
      if (u.coinbase && this.height + 1 - u.height < COINBASE_MATURITY)
        throw new SimRejection(-26, 'bad-txns-premature-spend-of-coinbase');
      inSum += u.value;
    }
    let outSum = 0n;
    for (const o of t.outputs) {
      if (o.amount > MAX_MONEY) throw new SimRejection(-26, 'bad-txns-vout-toolarge');
      outSum += o.amount;
    }
    if (outSum > MAX_MONEY) throw new SimRejection(-26, 'bad-txns-txouttotal-toolarge');
    if (outSum > inSum) throw new SimRejection(-26, 'bad-txns-in-belowout');
    const block = this.mine([raw], this.faucetScript, inSum - outSum);
    return { txid: t.txid, block };
  }

  /** Confirmations of a transaction in the chain (0: unknown). */
  confirmations(txid: string): number {
    const t = this.txs.get(txid);
    return t ? this.height - t.height + 1 : 0;
  }

  /**
   * Pays `outputs` from the faucet's mature coins in one signed transaction (change back to the
   * faucet, fixed fee); mines it. For a fresh chain, call `mineToMaturity()` first.
   */
  fund(outputs: { script: Uint8Array; amount: bigint }[]): string {
    const want = outputs.reduce((s, o) => s + o.amount, 0n) + FAUCET_FEE;
    const faucetHex = hex.encode(this.faucetScript);
    const tx = new Transaction({ version: 2 });
    let have = 0n;
    for (const [key, u] of this.utxos) {
      if (have >= want) break;
      if (u.script !== faucetHex) continue;
      if (u.coinbase && this.height + 1 - u.height < COINBASE_MATURITY) continue;
      const [txid, vout] = key.split(':') as [string, string];
      tx.addInput({
        txid,
        index: Number(vout),
        witnessUtxo: { script: this.faucetScript, amount: u.value },
      });
      have += u.value;
    }
    if (have < want)
      throw new SimRejection(-6, 'Insufficient funds (faucet: mine more blocks with generatetoaddress)');
    for (const o of outputs) tx.addOutput(o);
    if (have - want > 0n) tx.addOutput({ script: this.faucetScript, amount: have - want });
    tx.sign(this.faucetKey);
    tx.finalize();
    return this.accept(tx.extract()).txid;
  }

  /** Mines until the first coinbase is spendable (101 blocks on a fresh chain). */
  mineToMaturity(): void {
    while (this.height < COINBASE_MATURITY + 1) this.mine();
  }

  address(script: string): string | undefined {
    return scriptToAddress(hex.decode(script), 'regtest');
  }
}
