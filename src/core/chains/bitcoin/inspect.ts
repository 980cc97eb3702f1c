import { hex } from '@scure/base';
import { scriptToAddress } from './address.ts';
import { type Branch, type DerivedOutput, deriveOutput, locateDerivation } from './descriptor/derive.ts';
import { BitcoinInputError } from './errors.ts';
import { type KeyOrigin, type PsbtView, readPsbt } from './psbt/fields.ts';
import { estimateVsize } from './psbt/vsize.ts';
import { skeletonTxid } from './tx/raw.ts';
import type { BitcoinWallet } from './wallet.ts';

/** The spent output as the co-signer itself knows it (its node or UTXO table), or undefined. */
export type UtxoView = (outpoint: {
  txid: string;
  vout: number;
}) => { value: bigint; script: Uint8Array } | undefined;

export interface Finding {
  code: string;
  message: string;
  input?: number;
  output?: number;
  details?: Record<string, unknown>;
}

export interface InspectedInput {
  index: number;
  txid: string;
  vout: number;
  sequence: number;
  /** Proven amount (previous tx or the co-signer's view); undefined when unproven. */
  value?: bigint;
  /** How the amount was proven. */
  proof: 'non_witness_utxo' | 'utxo_view' | 'taproot_witness_utxo' | 'none';
  ours?: { branch: Branch; index: number; derived: DerivedOutput };
  sighashType?: number;
}

export interface InspectedOutput {
  index: number;
  value: bigint;
  script: string;
  address?: string;
  /** Whom it pays: our change (re-derived on the internal branch), or unknown so far. */
  role: 'change' | 'unknown';
  change?: { branch: Branch; index: number };
}

export interface Inspection {
  version: 0 | 2;
  txid: string;
  locktime: number;
  inputs: InspectedInput[];
  outputs: InspectedOutput[];
  /** Sum of proven inputs minus outputs; undefined when any input amount is unproven. */
  fee?: bigint;
  vsize: number;
  feeRate?: number;
  findings: Finding[];
  /** The decoded PSBT (what the signer computes sighashes over). */
  view: PsbtView;
}

const SIGHASH_ALL = 0x01;
const SIGHASH_DEFAULT = 0x00; // BIP 341: taproot 64-byte signatures mean ALL

function eq(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** First derivation claim (legacy or taproot field) that maps into the wallet. */
function claimedPath(
  w: BitcoinWallet,
  bip32: KeyOrigin[],
  tap: KeyOrigin[],
): { branch: Branch; index: number } | undefined {
  for (const d of [...bip32, ...tap]) {
    const hit = locateDerivation(w, d.fingerprint, d.path);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Recent inspections per wallet, so the co-signer's `signPsbtInputs` right after `verifyPsbt` on
 * the same bytes does not decode and re-derive the PSBT a second time (about a sixth of a 10-input
 * co-sign). A hit needs the same parsed wallet object, the same UtxoView function object (the
 * co-signer builds one snapshot view per request and passes it to both) and byte-identical PSBT
 * bytes, compared in full against a private copy: the cached inspection was computed from that
 * private copy, so a caller mutating its own array afterwards cannot change what a later call
 * sees, and different bytes are always inspected afresh. The result is the same value the
 * uncached inspection gives (it is a pure function of those three); callers treat it as read-only.
 */
interface Memo {
  psbt: Uint8Array;
  utxoView: UtxoView | undefined;
  inspection: Inspection;
}
const memos = new WeakMap<BitcoinWallet, Memo[]>();
const MEMOS_PER_WALLET = 4;

/**
 * Decodes a PSBT and describes it against the wallet: which inputs are provably ours and with
 * which proven amounts, which outputs are provably our change, the fee and fee rate, and every
 * intent-independent finding. Pure; the intent checks are in `verifyPsbt`. The returned value is
 * shared with later calls on the same (wallet, bytes, view): do not mutate it.
 */
export function inspectPsbt(psbt: Uint8Array, w: BitcoinWallet, utxoView?: UtxoView): Inspection {
  let list = memos.get(w);
  const hit = list?.find((m) => m.utxoView === utxoView && eq(m.psbt, psbt));
  if (hit) return hit.inspection;
  const own = psbt.slice();
  const inspection = inspectUncached(own, w, utxoView);
  // Shared between callers: a consumer that tried to edit it would throw (strict mode), not
  // silently change what the next caller sees.
  for (const x of [...inspection.inputs, ...inspection.outputs, ...inspection.findings]) Object.freeze(x);
  for (const x of [inspection.inputs, inspection.outputs, inspection.findings, inspection]) Object.freeze(x);
  if (!list) {
    list = [];
    memos.set(w, list);
  }
  if (list.length >= MEMOS_PER_WALLET) list.shift();
  list.push({ psbt: own, utxoView, inspection });
  return inspection;
}

function inspectUncached(psbt: Uint8Array, w: BitcoinWallet, utxoView?: UtxoView): Inspection {
  const view = readPsbt(psbt);
  // Versions 1 and 2, and 3 (BIP 431 TRUC); anything else is non-standard: never relayed, so
  // signed bytes that only a miner could include later.
  if (![1, 2, 3].includes(view.txVersion))
    throw new BitcoinInputError('PSBT_UNSUPPORTED_TX_VERSION', 'transaction version is not 1, 2 or 3', {
      details: { version: view.txVersion },
    });
  const findings: Finding[] = [];
  const inputs: InspectedInput[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < view.inputs.length; i++) {
    const inp = view.inputs[i]!;
    const txid = inp.txid;
    const vout = inp.vout;
    const key = `${txid}:${vout}`;
    // Consensus: a transaction spending the same outpoint twice is invalid.
    if (seen.has(key)) throw new BitcoinInputError('PSBT_DUPLICATE_INPUT', 'input spends an outpoint twice');
    seen.add(key);
    const sequence = inp.sequence;
    const rec: InspectedInput = {
      index: i,
      txid,
      vout,
      sequence,
      proof: 'none',
      sighashType: inp.sighashType,
    };

    // Where the spent output's amount and script come from. A witness_utxo alone is a claim by the
    // PSBT's author: BIP 143 signatures commit to one input's amount only, so two PSBTs lying about
    // two inputs make a signer pay a fee it never saw (CVE-2020-14199). Proof is the full previous
    // transaction (its txid checked against the outpoint at decode) or the co-signer's own UTXO view.
    let proven: { value: bigint; script: Uint8Array } | undefined;
    const prevTx = inp.nonWitnessUtxo;
    if (prevTx) {
      // BIP 174: the previous transaction must hash to the outpoint's txid and have the output.
      if (prevTx.txid !== txid)
        throw new BitcoinInputError(
          'PSBT_PREVOUT_MISMATCH',
          'non_witness_utxo does not hash to the input txid',
          {
            details: { input: i },
          },
        );
      const o = prevTx.outputs[vout];
      if (!o)
        throw new BitcoinInputError('PSBT_PREVOUT_MISMATCH', 'non_witness_utxo has no such output', {
          details: { input: i, vout },
        });
      proven = { value: o.amount, script: o.script };
      rec.proof = 'non_witness_utxo';
    }
    const viewed = utxoView?.({ txid, vout });
    if (viewed) {
      if (proven && (proven.value !== viewed.value || !eq(proven.script, viewed.script))) {
        findings.push({
          code: 'INPUT_AMOUNT_UNPROVEN',
          message: 'previous transaction disagrees with the co-signer UTXO view',
          input: i,
        });
      }
      proven ??= viewed;
      if (rec.proof === 'none') rec.proof = 'utxo_view';
    }
    if (!proven && w.kind === 'tr' && inp.witnessUtxo) {
      // BIP 341 signatures commit to every input's amount and script: a lie invalidates them.
      proven = { value: inp.witnessUtxo.amount, script: inp.witnessUtxo.script };
      rec.proof = 'taproot_witness_utxo';
    }
    if (
      proven &&
      inp.witnessUtxo &&
      (inp.witnessUtxo.amount !== proven.value || !eq(inp.witnessUtxo.script, proven.script))
    )
      findings.push({
        code: 'INPUT_AMOUNT_UNPROVEN',
        message: 'witness_utxo contradicts the proven output',
        input: i,
      });
    if (!proven)
      findings.push({
        code: 'INPUT_AMOUNT_UNPROVEN',
        message: 'input amount not proven by a previous transaction or the co-signer view',
        input: i,
      });
    rec.value = proven?.value;

    // Ownership: the claimed path is only a hint; the script is re-derived from our descriptor.
    const claim = claimedPath(w, inp.bip32, inp.tapBip32);
    const spent = proven?.script ?? inp.witnessUtxo?.script;
    if (claim) {
      const derived = deriveOutput(w, claim.branch, claim.index);
      // Scripts the PSBT carries must be the ones we derive: a signer never signs a script it did
      // not derive itself (the finalizer would otherwise assemble a different witness).
      const scriptsAgree =
        (inp.redeemScript === undefined || eq(inp.redeemScript, derived.redeemScript)) &&
        (inp.witnessScript === undefined || eq(inp.witnessScript, derived.witnessScript));
      if (spent && eq(derived.script, spent) && scriptsAgree) rec.ours = { ...claim, derived };
    }
    if (!rec.ours)
      findings.push({
        code: 'INPUT_NOT_OURS',
        message: 'input script is not derived from the wallet descriptor at the claimed path',
        input: i,
      });

    // Only SIGHASH_ALL: NONE lets anyone rewrite the outputs after we sign, ANYONECANPAY lets
    // inputs be added or removed, SINGLE commits to one output only.
    const okSighash = (t: number) => t === SIGHASH_ALL || (w.kind === 'tr' && t === SIGHASH_DEFAULT);
    if (inp.sighashType !== undefined && !okSighash(inp.sighashType))
      findings.push({
        code: 'SIGHASH_NOT_ALL',
        message: `sighash type ${inp.sighashType} requested`,
        input: i,
      });
    for (const { signature: sig } of inp.partialSigs)
      if (sig[sig.length - 1] !== SIGHASH_ALL)
        findings.push({
          code: 'SIGHASH_NOT_ALL',
          message: 'a partial signature is not SIGHASH_ALL',
          input: i,
        });
    if (inp.tapKeySig && inp.tapKeySig.length === 65 && inp.tapKeySig[64] !== SIGHASH_ALL)
      findings.push({
        code: 'SIGHASH_NOT_ALL',
        message: 'taproot key signature is not SIGHASH_ALL',
        input: i,
      });

    // Final or RBF-signalling sequences only: a relative lock (BIP 68) delays the payment and keeps
    // signed bytes valid long after the intent expired.
    if (sequence < 0xfffffffd)
      findings.push({ code: 'BAD_SEQUENCE', message: `sequence ${sequence} sets a relative lock`, input: i });
    inputs.push(rec);
  }

  const outputs: InspectedOutput[] = [];
  for (let i = 0; i < view.outputs.length; i++) {
    const o = view.outputs[i]!;
    const script = o.script;
    const rec: InspectedOutput = {
      index: i,
      value: o.amount,
      script: hex.encode(script),
      address: scriptToAddress(script, w.network),
      role: 'unknown',
    };
    const claim = claimedPath(w, o.bip32, o.tapBip32);
    if (claim) {
      const derived = deriveOutput(w, claim.branch, claim.index);
      if (claim.branch === 'change' && eq(derived.script, script)) {
        rec.role = 'change';
        rec.change = claim;
      } else {
        // Derivation data that claims our wallet over a foreign script: change hijack.
        findings.push({
          code: 'CHANGE_NOT_OURS',
          message: 'output claims a wallet derivation but its script is not our internal-branch address',
          output: i,
          details: { claimed: claim },
        });
      }
    }
    outputs.push(rec);
  }

  const proven = inputs.every((x) => x.value !== undefined);
  const fee = proven
    ? inputs.reduce((s, x) => s + x.value!, 0n) - outputs.reduce((s, x) => s + x.value, 0n)
    : undefined;
  if (fee !== undefined && fee < 0n)
    throw new BitcoinInputError('PSBT_NEGATIVE_FEE', 'outputs exceed inputs', {
      details: { fee: fee.toString() },
    });
  const vsize = estimateVsize(
    w.kind,
    w.threshold,
    w.keys.length,
    view.inputs.length,
    outputs.map((o) => o.script.length / 2),
  );
  return {
    version: view.version,
    txid: skeletonTxid({ ...view, version: view.txVersion }),
    locktime: view.locktime,
    inputs,
    outputs,
    fee,
    vsize,
    feeRate: fee === undefined ? undefined : Number(fee) / vsize,
    findings,
    view,
  };
}
