import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { hash160 } from '@scure/btc-signer/utils.js';
import { Transaction as BjsTransaction, script as bscript, Psbt } from 'bitcoinjs-lib';
import { decodePsbt, PSBT_OPTS } from '../core/chains/bitcoin/psbt/decode.ts';
import { CustosError } from '../core/errors/base.ts';

/**
 * Coordinator side, after the co-signers answered: combine their PSBTs (BIP 174 Combiner),
 * finalize and extract with @scure/btc-signer, then check every signature of the final transaction
 * with a second, independent implementation (bitcoinjs-lib's BIP 143 / BIP 341 sighash, noble's
 * verify) before anything is broadcast. A disagreement between the two libraries, a signature that
 * does not verify, or a txid that changed is a hard failure: nothing half-valid leaves Custos.
 */
export interface FinalTransaction {
  raw: Uint8Array;
  txid: string;
  /** Signatures checked in the final witness data. */
  signaturesChecked: number;
}

function fail(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new CustosError(code, message, { details });
}

export function combineFinalizeExtract(psbts: readonly Uint8Array[]): FinalTransaction {
  if (psbts.length === 0) fail('PSBT_NONE', 'no PSBTs to combine');
  const first = decodePsbt(psbts[0]!).tx;
  const unsignedId = first.id; // over the unsigned tx: equal for every PSBT of one transaction
  let combined: Transaction = first;
  for (const p of psbts.slice(1)) {
    const t = decodePsbt(p).tx;
    if (t.id !== unsignedId) fail('PSBT_COMBINE_MISMATCH', 'PSBTs describe different transactions');
    try {
      combined = combined.combine(t);
    } catch (cause) {
      throw new CustosError('PSBT_COMBINE_FAILED', 'PSBTs cannot be combined', { cause });
    }
  }
  const combinedBytes = combined.toPSBT(0);

  // 1. Partial signatures, checked by bitcoinjs-lib before finalizing.
  const bjs = Psbt.fromBuffer(combinedBytes);
  const prevouts: { script: Uint8Array; value: bigint }[] = [];
  for (let i = 0; i < bjs.inputCount; i++) {
    const input = bjs.data.inputs[i]!;
    const wu = input.witnessUtxo;
    if (!wu) fail('FINAL_CHECK_FAILED', 'input without witness_utxo', { input: i });
    prevouts.push({ script: wu.script, value: wu.value });
    if (input.partialSig?.length) {
      const valid = bjs.validateSignaturesOfInput(i, (pubkey, msghash, signature) =>
        secp256k1.verify(signature, msghash, pubkey, { prehash: false, lowS: true, format: 'compact' }),
      );
      if (!valid)
        fail('FINAL_CHECK_FAILED', 'a partial signature does not verify (bitcoinjs-lib)', { input: i });
    }
  }

  // 2. Finalize and extract with btc-signer.
  const tx = Transaction.fromPSBT(combinedBytes, PSBT_OPTS);
  try {
    tx.finalize();
  } catch (cause) {
    throw new CustosError('PSBT_NOT_FINALIZABLE', 'not enough valid signatures to finalize', { cause });
  }
  const raw = tx.extract();

  // 3. The final transaction, re-parsed and re-hashed by bitcoinjs-lib.
  const final = BjsTransaction.fromBuffer(raw);
  // The txid covers scriptSigs (P2SH-P2WSH gets one at finalization), so compare the parts the
  // signatures commit to: version, locktime, every outpoint and sequence, every output.
  const same =
    final.version === first.version &&
    final.locktime === first.lockTime &&
    final.ins.length === first.inputsLength &&
    final.outs.length === first.outputsLength &&
    final.ins.every((inp, i) => {
      const u = first.getInput(i);
      return (
        hex.encode(Uint8Array.from(inp.hash).reverse()) === hex.encode(u.txid!) &&
        inp.index === u.index &&
        inp.sequence === (u.sequence ?? 0xffffffff)
      );
    }) &&
    final.outs.every((o, i) => {
      const u = first.getOutput(i);
      return o.value === u.amount && hex.encode(o.script) === hex.encode(u.script!);
    });
  if (!same) fail('FINAL_CHECK_FAILED', 'final transaction differs from the unsigned one');
  let checked = 0;
  final.ins.forEach((inp, i) => {
    const prev = prevouts[i]!;
    const w = inp.witness;
    if (prev.script.length === 34 && prev.script[0] === 0x51) {
      // P2TR key path: witness = [sig]; verify against the output key (BIP 341).
      const sig = w[0]!;
      const hashType = sig.length === 65 ? sig[64]! : 0x00;
      const msg = final.hashForWitnessV1(
        i,
        prevouts.map((p) => p.script),
        prevouts.map((p) => p.value),
        hashType,
      );
      if (!schnorr.verify(sig.subarray(0, 64), msg, prev.script.subarray(2)))
        fail('FINAL_CHECK_FAILED', 'taproot signature does not verify', { input: i });
      checked++;
      return;
    }
    let scriptCode: Uint8Array;
    let pubkeys: Uint8Array[];
    let sigs: Uint8Array[];
    if (w.length === 2 && w[1]!.length === 33) {
      // P2WPKH: [sig, pubkey]; BIP 143 scriptCode is the P2PKH template.
      pubkeys = [w[1]!];
      sigs = [w[0]!];
      scriptCode = new Uint8Array([0x76, 0xa9, 0x14, ...hash160(w[1]!), 0x88, 0xac]);
    } else {
      // P2WSH CHECKMULTISIG: [<empty>, sig…, witnessScript].
      scriptCode = w[w.length - 1]!;
      const chunks = bscript.decompile(scriptCode) ?? [];
      pubkeys = chunks.filter((c): c is Uint8Array => c instanceof Uint8Array && c.length === 33);
      sigs = w.slice(1, -1);
    }
    // CHECKMULTISIG walks keys in order: each signature must match a later key than the last.
    let k = 0;
    for (const s of sigs) {
      const { signature, hashType } = bscript.signature.decode(s);
      if (hashType !== 0x01) fail('FINAL_CHECK_FAILED', 'final signature is not SIGHASH_ALL', { input: i });
      const digest = final.hashForWitnessV0(i, scriptCode, prev.value, hashType);
      while (
        k < pubkeys.length &&
        !secp256k1.verify(signature, digest, pubkeys[k]!, { prehash: false, lowS: true, format: 'compact' })
      )
        k++;
      if (k >= pubkeys.length) fail('FINAL_CHECK_FAILED', 'final signature does not verify', { input: i });
      k++;
      checked++;
    }
  });
  return { raw, txid: final.getId(), signaturesChecked: checked };
}
