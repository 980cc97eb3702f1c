import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Transaction } from '@scure/btc-signer';
import { hash160, tagSchnorr } from '@scure/btc-signer/utils.js';
import type { Secp256k1Signer } from '../../../keys/backend.ts';
import { CustosError } from '../../errors/base.ts';
import { HARDENED } from './descriptor/parse.ts';
import { type Inspection, inspectPsbt, type UtxoView } from './inspect.ts';
import { serializePsbtKeyMaps } from './psbt/keymap.ts';
import { bip143Sighash } from './tx/sighash.ts';
import { isParsed } from './verify.ts';
import { type BitcoinWallet, type BitcoinWalletConfig, parseBitcoinWallet } from './wallet.ts';

export interface PartialSignature {
  input: number;
  pubkey: Uint8Array;
  /**
   * Segwit v0: DER signature, low-S, followed by the SIGHASH_ALL byte (BIP 143 / BIP 146 LOW_S).
   * Taproot: 64-byte BIP 340 signature (SIGHASH_DEFAULT).
   */
  signature: Uint8Array;
  path: string;
}

export interface SignedPsbt {
  /** The PSBT with our partial signatures added (for the coordinator's combiner). */
  psbt: Uint8Array;
  signatures: PartialSignature[];
}

const SIGHASH_ALL = 0x01;
const N_HALF = secp256k1.Point.CURVE().n >> 1n;

export function pathString(path: readonly number[]): string {
  return `m${path.map((i) => (i >= HARDENED ? `/${i - HARDENED}'` : `/${i}`)).join('')}`;
}

/** Which wallet key the signer holds, found once per (signer, wallet) by comparing public keys. */
const keyIndexCache = new WeakMap<Secp256k1Signer, Map<string, number>>();

async function signerKeyIndex(
  signer: Secp256k1Signer,
  w: BitcoinWallet,
  sample: { path: number[]; pubkey: Uint8Array }[],
) {
  let m = keyIndexCache.get(signer);
  if (!m) {
    m = new Map();
    keyIndexCache.set(signer, m);
  }
  const id = w.keys.map((k) => k.xpub).join(',');
  const hit = m.get(id);
  if (hit !== undefined) return hit;
  for (let ki = 0; ki < sample.length; ki++) {
    const pub = await signer.publicKey(pathString(sample[ki]!.path));
    if (equal(pub, sample[ki]!.pubkey)) {
      m.set(id, ki);
      return ki;
    }
  }
  throw new CustosError('SIGNER_NOT_IN_WALLET', 'the signer holds none of the wallet keys', {
    details: { keyId: signer.keyId },
  });
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Signs every wallet input of a PSBT with the signer's key, SIGHASH_ALL only, at the input's
 * derivation path (the signer holds a BIP 32 root). Call only after `verifyPsbt` returned ok:
 * this function re-derives the inputs it signs but does not look at the outputs.
 * Segwit v0 inputs (wpkh, wsh, sh-wsh); taproot key-path signing needs a backend with
 * `schnorrSign` and is refused otherwise.
 */
export async function signPsbtInputs(
  psbt: Uint8Array,
  wallet: BitcoinWalletConfig | BitcoinWallet,
  signer: Secp256k1Signer,
  utxoView?: UtxoView,
): Promise<SignedPsbt> {
  const w = isParsed(wallet) ? wallet : parseBitcoinWallet(wallet);
  if (w.kind === 'tr' && !signer.schnorrSign)
    throw new CustosError('SIGNER_UNSUPPORTED', 'taproot key-path signing needs a Schnorr-capable backend');
  const ins = inspectPsbt(psbt, w, utxoView);
  if (w.kind === 'tr') return signTaprootInputs(ins, signer);
  const view = ins.view;
  const sighashTx = { ...view, version: view.txVersion };
  const signatures: PartialSignature[] = [];
  const inputMaps = view.maps.inputs.map((m) => [...m]);
  for (const input of ins.inputs) {
    if (!input.ours || view.inputs[input.index]!.finalized) continue;
    if (input.value === undefined)
      throw new CustosError('INPUT_AMOUNT_UNPROVEN', 'refusing to sign an input with an unproven amount', {
        details: { input: input.index },
      });
    const d = input.ours.derived;
    const ki = await signerKeyIndex(signer, w, d.keys);
    const key = d.keys[ki]!;
    // BIP 143 scriptCode: the witness script for P2WSH, the P2PKH template for P2WPKH.
    const scriptCode =
      w.kind === 'wpkh'
        ? new Uint8Array([0x76, 0xa9, 0x14, ...hash160(key.pubkey), 0x88, 0xac])
        : d.witnessScript!;
    const digest = bip143Sighash(sighashTx, input.index, scriptCode, input.value, SIGHASH_ALL);
    const path = pathString(key.path);
    const sig = await signer.signDigest(digest, path);
    // Stated, not assumed: the backend promises low-S; a high-S signature is non-standard (BIP 146).
    if (sig.s > N_HALF) throw new CustosError('SIGNER_HIGH_S', 'backend returned a high-S signature');
    const der = new secp256k1.Signature(sig.r, sig.s).toBytes('der');
    const signature = new Uint8Array(der.length + 1);
    signature.set(der);
    signature[der.length] = SIGHASH_ALL;
    // PSBT_IN_PARTIAL_SIG: key 0x02 || pubkey, value DER || sighash byte. Replace our own earlier
    // signature for this key, if any (a duplicate key would make the PSBT invalid).
    const key02 = new Uint8Array([0x02, ...key.pubkey]);
    const m = inputMaps[input.index]!.filter((kv) => !(kv.type === 0x02 && equal(kv.key, key02)));
    m.push({ type: 0x02, key: key02, value: signature });
    inputMaps[input.index] = m;
    signatures.push({ input: input.index, pubkey: key.pubkey, signature, path });
  }
  const out = serializePsbtKeyMaps({
    global: view.maps.global,
    inputs: inputMaps,
    outputs: view.maps.outputs,
  });
  return { psbt: out, signatures };
}

/**
 * tr(KEY) key path (BIP 341/86): SIGHASH_DEFAULT over every input's amount and script, signed by
 * the backend with the BIP 341 tweak t = hash_TapTweak(internal key) (no script tree). The
 * signature goes into PSBT_IN_TAP_KEY_SIG (64 bytes: SIGHASH_DEFAULT, which commits like ALL).
 */
async function signTaprootInputs(ins: Inspection, signer: Secp256k1Signer): Promise<SignedPsbt> {
  const view = ins.view;
  if (ins.inputs.some((i) => i.value === undefined || !i.ours))
    throw new CustosError('INPUT_AMOUNT_UNPROVEN', 'every taproot input must be ours with a known amount');
  const tx = new Transaction({
    version: view.txVersion,
    lockTime: view.locktime,
    allowUnknownOutputs: true,
    allowUnknownInputs: true,
  });
  for (const i of view.inputs) tx.addInput({ txid: i.txid, index: i.vout, sequence: i.sequence });
  for (const o of view.outputs) tx.addOutput({ script: o.script, amount: o.amount });
  const scripts = ins.inputs.map((i) => i.ours!.derived.script);
  const amounts = ins.inputs.map((i) => i.value!);
  const signatures: PartialSignature[] = [];
  const inputMaps = view.maps.inputs.map((m) => [...m]);
  for (const input of ins.inputs) {
    if (view.inputs[input.index]!.finalized) continue;
    const key = input.ours!.derived.keys[0]!;
    const msg = tx.preimageWitnessV1(input.index, scripts, 0x00, amounts);
    const tweak = tagSchnorr('TapTweak', input.ours!.derived.tapInternalKey!);
    const path = pathString(key.path);
    const sig = await signer.schnorrSign!(msg, path, tweak);
    if (sig.length !== 64)
      throw new CustosError('SIGNER_BAD_SIGNATURE', 'Schnorr signature must be 64 bytes');
    inputMaps[input.index] = [
      ...inputMaps[input.index]!.filter((kv) => kv.type !== 0x13),
      { type: 0x13, key: new Uint8Array([0x13]), value: sig },
    ];
    signatures.push({ input: input.index, pubkey: key.pubkey, signature: sig, path });
  }
  return {
    psbt: serializePsbtKeyMaps({ global: view.maps.global, inputs: inputMaps, outputs: view.maps.outputs }),
    signatures,
  };
}
