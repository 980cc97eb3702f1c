import { hex as hexCodec } from '@scure/base';
import { fail, ok, type Result } from '../../errors/base.ts';
import type { Intent } from '../../intent/schema.ts';
import { parseAssetId, parseChainId } from '../caip.ts';
import { addressToScript, isOpReturn } from './address.ts';
import type { Branch } from './descriptor/derive.ts';
import { BitcoinInputError } from './errors.ts';
import { type Finding, type Inspection, inspectPsbt, type UtxoView } from './inspect.ts';
import { type BitcoinWallet, type BitcoinWalletConfig, parseBitcoinWallet } from './wallet.ts';

export type BitcoinVerifyCode =
  | 'PSBT_INVALID'
  | 'WRONG_CHAIN'
  | 'DESTINATION_MISMATCH'
  | 'AMOUNT_MISMATCH'
  | 'INPUT_NOT_OURS'
  | 'INPUT_AMOUNT_UNPROVEN'
  | 'SIGHASH_NOT_ALL'
  | 'CHANGE_NOT_OURS'
  | 'EXTRA_OUTPUT'
  | 'OP_RETURN_OUTPUT'
  | 'FEE_ABOVE_MAX'
  | 'BAD_LOCKTIME'
  | 'BAD_SEQUENCE'
  | 'LOOKALIKE_DESTINATION';

/** Order in which the first finding becomes the refusal code (the most telling first). */
const PRIORITY: BitcoinVerifyCode[] = [
  'PSBT_INVALID',
  'WRONG_CHAIN',
  'DESTINATION_MISMATCH',
  'AMOUNT_MISMATCH',
  'INPUT_NOT_OURS',
  'INPUT_AMOUNT_UNPROVEN',
  'SIGHASH_NOT_ALL',
  'CHANGE_NOT_OURS',
  'EXTRA_OUTPUT',
  'OP_RETURN_OUTPUT',
  'FEE_ABOVE_MAX',
  'BAD_LOCKTIME',
  'BAD_SEQUENCE',
  'LOOKALIKE_DESTINATION',
];

export interface VerifyPsbtOptions {
  /** The co-signer's own ceiling (sat/vB); the stricter of it and the wallet's applies. */
  feeRateCeilingSatVb: number;
  /** Policy engine's look-alike check of the destination (T6); a returned finding refuses. */
  lookalike?: (address: string) => Finding | undefined;
  /**
   * Current chain height, when known: a height locktime up to height + 1 is accepted (anti fee
   * sniping). Without it only locktime 0 is. Time-based locktimes are always refused: signed
   * bytes that become valid at a future date outlive the intent's expiry.
   */
  currentHeight?: number;
}

export interface InputToSign {
  input: number;
  branch: Branch;
  index: number;
  /** Every wallet key's pubkey and full path for this input. */
  keys: { pubkey: Uint8Array; fingerprint: number; path: number[] }[];
}

export interface VerifiedPsbt {
  txid: string;
  inputsToSign: InputToSign[];
  fee: bigint;
  /** sat/vB over the estimated final vsize. */
  feeRate: number;
  vsize: number;
  summary: {
    destination: string;
    amount: bigint;
    destinationOutput: number;
    change: { output: number; value: bigint; index: number }[];
    inputTotal: bigint;
    /** Outpoints this transaction spends (for the co-signer's one-spend-per-UTXO ledger, I8). */
    spends: { txid: string; vout: number }[];
  };
}

export interface IntentFindings {
  findings: Finding[];
  destinationOutput?: number;
}

/** Intent-dependent checks over an inspection (used by `verifyPsbt` and `custos verify psbt`). */
export function checkAgainstIntent(
  intent: Intent,
  ins: Inspection,
  w: BitcoinWallet,
  opts: VerifyPsbtOptions,
): IntentFindings {
  const findings: Finding[] = [];
  const chain = parseChainId(intent.chain);
  const asset = parseAssetId(intent.asset);
  if (chain.namespace !== 'bip122' || chain.network !== w.network || asset.kind !== 'native') {
    findings.push({ code: 'WRONG_CHAIN', message: `intent is for ${intent.chain}, wallet is ${w.network}` });
    return { findings };
  }
  let destScript: Uint8Array;
  try {
    destScript = addressToScript(intent.destination, w.network);
  } catch {
    // Valid for the chain by the intent schema, but not payable here (e.g. a future witness version).
    findings.push({ code: 'DESTINATION_MISMATCH', message: 'intent destination is not a payable address' });
    return { findings };
  }
  const amount = BigInt(intent.amount);
  const destHex = hexCodec.encode(destScript);
  let destinationOutput: number | undefined;
  for (const o of ins.outputs) {
    if (o.script === destHex) {
      if (destinationOutput !== undefined) {
        // A second payment to the destination: the intent names one payment of one amount.
        findings.push({ code: 'EXTRA_OUTPUT', message: 'second output to the destination', output: o.index });
        continue;
      }
      destinationOutput = o.index;
      if (o.value !== amount)
        findings.push({
          code: 'AMOUNT_MISMATCH',
          message: `destination receives ${o.value}, intent says ${amount}`,
          output: o.index,
          details: { expected: amount.toString(), actual: o.value.toString() },
        });
    } else if (o.role !== 'change') {
      const opReturn = isOpReturn(hexCodec.decode(o.script));
      findings.push({
        code: opReturn ? 'OP_RETURN_OUTPUT' : 'EXTRA_OUTPUT',
        message: opReturn
          ? 'OP_RETURN output not asked for by the intent'
          : 'output is neither the destination nor our change',
        output: o.index,
        details: { address: o.address ?? null, value: o.value.toString() },
      });
    }
  }
  if (destinationOutput === undefined)
    findings.push({
      code: 'DESTINATION_MISMATCH',
      message: 'no output pays the intent destination',
      details: { destination: intent.destination },
    });

  if (ins.fee !== undefined) {
    if (intent.maxFee !== undefined && ins.fee > BigInt(intent.maxFee))
      findings.push({
        code: 'FEE_ABOVE_MAX',
        message: `fee ${ins.fee} exceeds the intent's maxFee ${intent.maxFee}`,
        details: { fee: ins.fee.toString(), maxFee: intent.maxFee },
      });
    const ceiling = Math.min(opts.feeRateCeilingSatVb, w.feeRateCeilingSatVb);
    if (ins.feeRate! > ceiling)
      findings.push({
        code: 'FEE_ABOVE_MAX',
        message: `fee rate ${ins.feeRate!.toFixed(2)} sat/vB exceeds the ceiling ${ceiling}`,
        details: { feeRate: ins.feeRate, ceiling },
      });
  }
  const lt = ins.locktime;
  const maxHeight = opts.currentHeight === undefined ? 0 : opts.currentHeight + 1;
  if (lt >= 500_000_000 || lt > maxHeight)
    findings.push({
      code: 'BAD_LOCKTIME',
      message: `locktime ${lt} is in the future or time-based`,
      details: { lt },
    });
  const look = opts.lookalike?.(intent.destination);
  if (look) findings.push({ ...look, code: 'LOOKALIKE_DESTINATION' });
  return { findings, destinationOutput };
}

/** Findings sorted by refusal priority. */
export function sortFindings(findings: Finding[]): Finding[] {
  const rank = (c: string) => {
    const r = PRIORITY.indexOf(c as BitcoinVerifyCode);
    return r < 0 ? PRIORITY.length : r;
  };
  return [...findings].sort((a, b) => rank(a.code) - rank(b.code));
}

/**
 * The co-signer's Bitcoin check (invariant I1, last clause): the PSBT, decoded from raw bytes here,
 * pays exactly the intent's destination exactly the intent's amount, and nothing else leaves the
 * wallet but provable change and a bounded fee. Pure: the wallet, the co-signer's own UTXO view,
 * the ceiling, the look-alike check and the height are passed in. Refuses with the first finding
 * by priority; `details.findings` lists all of them.
 */
export function verifyPsbt(
  intent: Intent,
  psbt: Uint8Array,
  wallet: BitcoinWalletConfig | BitcoinWallet,
  utxoView: UtxoView,
  opts: VerifyPsbtOptions,
): Result<VerifiedPsbt, BitcoinVerifyCode> {
  const w = isParsed(wallet) ? wallet : parseBitcoinWallet(wallet);
  let ins: Inspection;
  try {
    ins = inspectPsbt(psbt, w, utxoView);
  } catch (e) {
    if (e instanceof BitcoinInputError)
      return fail('PSBT_INVALID', e.shortMessage, { ...e.details, reason: e.code });
    throw e;
  }
  const { findings: intentFindings, destinationOutput } = checkAgainstIntent(intent, ins, w, opts);
  const findings = sortFindings([...ins.findings, ...intentFindings]);
  if (findings.length > 0) {
    const first = findings[0]!;
    return fail(first.code as BitcoinVerifyCode, first.message, {
      findings: findings.map((f) => ({ ...f, details: f.details })),
    });
  }
  const change = ins.outputs
    .filter((o) => o.role === 'change')
    .map((o) => ({ output: o.index, value: o.value, index: o.change!.index }));
  return ok({
    txid: ins.txid,
    inputsToSign: ins.inputs.map((x) => ({
      input: x.index,
      branch: x.ours!.branch,
      index: x.ours!.index,
      keys: x.ours!.derived.keys,
    })),
    fee: ins.fee!,
    feeRate: ins.feeRate!,
    vsize: ins.vsize,
    summary: {
      destination: intent.destination,
      amount: BigInt(intent.amount),
      destinationOutput: destinationOutput!,
      change,
      inputTotal: ins.inputs.reduce((s, x) => s + x.value!, 0n),
      spends: ins.inputs.map((x) => ({ txid: x.txid, vout: x.vout })),
    },
  });
}

export function isParsed(w: BitcoinWalletConfig | BitcoinWallet): w is BitcoinWallet {
  return 'keys' in w && Array.isArray((w as BitcoinWallet).keys);
}
