import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '@scure/base';
import { RawTx, Transaction } from '@scure/btc-signer';
import { CustosError } from '../../errors/base.ts';
import type { Intent } from '../../intent/schema.ts';
import { parseChainId } from '../caip.ts';
import { addressToScript } from './address.ts';
import { selectCoins } from './coin-select.ts';
import { type Branch, type DerivedOutput, deriveOutput } from './descriptor/derive.ts';
import { PSBT_OPTS } from './psbt/decode.ts';
import { baseWeight, inputWeight } from './psbt/vsize.ts';
import type { BitcoinWallet } from './wallet.ts';

/** A wallet UTXO as the coordinator's node reports it, with the full previous transaction. */
export interface WalletUtxo {
  txid: string;
  vout: number;
  value: bigint;
  branch: Branch;
  index: number;
  /** Raw previous transaction (non_witness_utxo), required for segwit v0 inputs too (CVE-2020-14199). */
  prevTx: Uint8Array;
}

export interface BuiltPsbt {
  psbt: Uint8Array;
  fee: bigint;
  feeRate: number;
  selected: WalletUtxo[];
  /** Change index used, or undefined when no change output was created. */
  changeIndex?: number;
  algorithm: 'bnb' | 'largest-first';
}

const RBF_SEQUENCE = 0xfffffffd; // BIP 125 signalling; final enough for BIP 68 (no relative lock)

function txidOf(raw: Uint8Array): string {
  // txid = double SHA-256 of the non-witness serialization, shown byte-reversed.
  const tx = RawTx.decode(raw);
  const stripped = RawTx.encode({ ...tx, segwitFlag: false, witnesses: undefined });
  return hex.encode(sha256(sha256(stripped)).reverse());
}

function bip32(d: DerivedOutput) {
  return d.keys.map(
    (k) =>
      [k.pubkey, { fingerprint: k.fingerprint, path: k.path }] as [
        Uint8Array,
        { fingerprint: number; path: number[] },
      ],
  );
}

function describe(w: BitcoinWallet, d: DerivedOutput) {
  if (w.kind === 'tr') {
    const k = d.keys[0]!;
    return {
      tapInternalKey: d.tapInternalKey!,
      tapBip32Derivation: [
        [d.tapInternalKey!, { hashes: [], der: { fingerprint: k.fingerprint, path: k.path } }],
      ] as [Uint8Array, { hashes: Uint8Array[]; der: { fingerprint: number; path: number[] } }][],
    };
  }
  return {
    ...(d.redeemScript ? { redeemScript: d.redeemScript } : {}),
    ...(d.witnessScript ? { witnessScript: d.witnessScript } : {}),
    bip32Derivation: bip32(d),
  };
}

const cmp = (a: Uint8Array, b: Uint8Array) => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
};

/**
 * Coordinator side: builds the unsigned PSBT (v0) for an approved intent. Coin selection with
 * branch-and-bound and a fallback; change, if any, goes to the wallet's next internal address with
 * full BIP 32 derivation so co-signers can prove it is ours; every input carries both
 * non_witness_utxo and witness_utxo; BIP 69 ordering of inputs and outputs (deterministic, no
 * change-position leak). The fee is bounded by the intent's maxFee and the wallet's rate ceiling.
 */
export function buildPsbt(
  intent: Intent,
  w: BitcoinWallet,
  utxos: readonly WalletUtxo[],
  feeRate: number,
  nextChangeIndex: number,
): BuiltPsbt {
  const chain = parseChainId(intent.chain);
  if (chain.namespace !== 'bip122' || chain.network !== w.network)
    throw new CustosError('WRONG_CHAIN', 'intent chain does not match the wallet network');
  if (!(feeRate > 0) || feeRate > w.feeRateCeilingSatVb)
    throw new CustosError(
      'FEE_ABOVE_MAX',
      `fee rate ${feeRate} outside (0, ${w.feeRateCeilingSatVb}] sat/vB`,
    );
  const destScript = addressToScript(intent.destination, w.network);
  const amount = BigInt(intent.amount);
  const change = deriveOutput(w, 'change', nextChangeIndex);
  const inWeight = inputWeight(w.kind, w.threshold, w.keys.length);
  const base0 = baseWeight(0, [destScript.length]);
  const withChange = baseWeight(0, [destScript.length, change.script.length]);
  const sel = selectCoins(
    utxos.map((u) => ({ ...u, id: `${u.txid}:${u.vout}` })),
    {
      target: amount,
      feeRate,
      baseVbytes: base0 / 4,
      inputVbytes: inWeight / 4,
      changeVbytes: (withChange - base0) / 4,
      changeSpendVbytes: inWeight / 4,
      dustLimit: BigInt(w.dustLimitSat),
    },
  );
  if (intent.maxFee !== undefined && sel.fee > BigInt(intent.maxFee))
    throw new CustosError('FEE_ABOVE_MAX', `fee ${sel.fee} exceeds the intent's maxFee ${intent.maxFee}`, {
      details: { fee: sel.fee.toString(), maxFee: intent.maxFee },
    });

  const tx = new Transaction({ ...PSBT_OPTS, version: 2, lockTime: 0 });
  const inputs = sel.selected.map((u) => {
    if (txidOf(u.prevTx) !== u.txid)
      throw new CustosError('PREVTX_MISMATCH', 'previous transaction does not hash to the UTXO txid', {
        details: { txid: u.txid },
      });
    const prev = RawTx.decode(u.prevTx);
    const out = prev.outputs[u.vout];
    const d = deriveOutput(w, u.branch, u.index);
    if (!out || out.amount !== u.value || cmp(out.script, d.script) !== 0)
      throw new CustosError('UTXO_NOT_OURS', 'UTXO script or value does not match the wallet derivation', {
        details: { txid: u.txid, vout: u.vout },
      });
    return { u, d, txidBytes: hex.decode(u.txid) };
  });
  // BIP 69: inputs by txid (as serialized, i.e. reversed display order) then vout.
  inputs.sort(
    (a, b) => cmp(a.txidBytes.slice().reverse(), b.txidBytes.slice().reverse()) || a.u.vout - b.u.vout,
  );
  for (const { u, d } of inputs) {
    tx.addInput({
      txid: u.txid,
      index: u.vout,
      sequence: RBF_SEQUENCE,
      witnessUtxo: { script: d.script, amount: u.value },
      ...(w.kind === 'tr' ? {} : { nonWitnessUtxo: u.prevTx, sighashType: 1 }),
      ...describe(w, d),
    });
  }
  const outs: { script: Uint8Array; amount: bigint; change?: DerivedOutput }[] = [
    { script: destScript, amount },
  ];
  if (sel.change > 0n) outs.push({ script: change.script, amount: sel.change, change });
  // BIP 69: outputs by amount, then script.
  outs.sort((a, b) => (a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : cmp(a.script, b.script)));
  for (const o of outs)
    tx.addOutput({ script: o.script, amount: o.amount, ...(o.change ? describe(w, o.change) : {}) });
  const vsize = Math.ceil(
    (baseWeight(
      inputs.length,
      outs.map((o) => o.script.length),
    ) +
      inputs.length * inWeight) /
      4,
  );
  return {
    psbt: tx.toPSBT(0),
    fee: sel.fee,
    feeRate: Number(sel.fee) / vsize,
    selected: inputs.map((x) => x.u),
    changeIndex: sel.change > 0n ? nextChangeIndex : undefined,
    algorithm: sel.algorithm,
  };
}
