import { base64 } from '@scure/base';
import { Transaction, type TxOpts } from '@scure/btc-signer';
import { BitcoinInputError } from '../errors.ts';
import { type PsbtKeyMaps, parsePsbtKeyMaps } from './keymap.ts';

export interface DecodedPsbt {
  version: 0 | 2;
  tx: Transaction;
  maps: PsbtKeyMaps;
}

/**
 * btc-signer options for every PSBT Custos reads: unknown output scripts decode (so the verifier
 * can refuse them with EXTRA_OUTPUT rather than a parse error), unknown key types are kept as
 * BIP 174 requires, and redeem/witness scripts are checked against the spent script.
 */
export const PSBT_OPTS: TxOpts = {
  allowUnknownOutputs: true,
  allowUnknownInputs: true,
  unknown: 'ignore',
  disableScriptCheck: false,
};

/** Maps btc-signer's error texts onto stable codes (its messages are not an API). */
function classify(message: string): string {
  if (/wrong (redeemScript|witnessScript)|checkScript/.test(message)) return 'PSBT_SCRIPT_MISMATCH';
  if (/Non-empty key/.test(message)) return 'PSBT_FIELD_INVALID';
  if (/nonWitnessUtxo|wrong txid/.test(message)) return 'PSBT_PREVOUT_MISMATCH';
  return 'PSBT_FIELD_INVALID';
}

/**
 * Decodes a PSBT strictly: our own key-map pre-parse (framing, duplicates, v0/v2 field rules),
 * then btc-signer's typed field decoding (key and value lengths, points on the curve, signatures,
 * redeem/witness script consistency). Throws {@link BitcoinInputError} with a PSBT_* code.
 */
export function decodePsbt(bytes: Uint8Array): DecodedPsbt {
  const maps = parsePsbtKeyMaps(bytes);
  let tx: Transaction;
  try {
    tx = Transaction.fromPSBT(bytes, PSBT_OPTS);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new BitcoinInputError(classify(message), 'PSBT field rejected', {
      cause,
      details: { library: message.slice(0, 200) },
    });
  }
  return { version: maps.version, tx, maps };
}

/** Base64 text (BIP 174's text encoding) → bytes; strict RFC 4648 with padding. */
export function psbtFromBase64(text: string): Uint8Array {
  try {
    return base64.decode(text.trim());
  } catch (cause) {
    throw new BitcoinInputError('PSBT_BAD_ENCODING', 'PSBT is not valid base64', { cause });
  }
}
