import { Address, OutScript } from '@scure/btc-signer';
import { bitcoinNetwork } from '../address.ts';
import type { BitcoinNetworkName } from '../caip.ts';
import { BitcoinInputError } from './errors.ts';

/**
 * Address ↔ output script for one network (base58check P2PKH/P2SH, BIP 173 bech32 v0, BIP 350
 * bech32m v1+). Decoding is strict: a wrong network prefix, mixed case or bad checksum is refused.
 */
export function addressToScript(address: string, network: BitcoinNetworkName): Uint8Array {
  try {
    return OutScript.encode(Address(bitcoinNetwork(network)).decode(address));
  } catch (cause) {
    throw new BitcoinInputError('INVALID_ADDRESS', `not a valid ${network} Bitcoin address`, {
      cause,
      details: { address },
    });
  }
}

/** The address of an output script, or undefined for scripts without one (OP_RETURN, bare multisig, unknown). */
export function scriptToAddress(script: Uint8Array, network: BitcoinNetworkName): string | undefined {
  try {
    const decoded = OutScript.decode(script);
    if (decoded.type === 'unknown' || decoded.type === 'ms' || decoded.type === 'pk') return undefined;
    return Address(bitcoinNetwork(network)).encode(decoded);
  } catch {
    return undefined;
  }
}

/** OP_RETURN (null data) output: unspendable, carries data — refused unless the intent asked for it. */
export function isOpReturn(script: Uint8Array): boolean {
  return script.length > 0 && script[0] === 0x6a;
}
