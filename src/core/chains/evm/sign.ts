import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { parseTransaction, serializeTransaction, type TransactionSerializableEIP1559 } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import type { Secp256k1Signer } from '../../../keys/backend.ts';
import { CustosError } from '../../errors/base.ts';
import { decodeUnsignedEip1559 } from './tx-decode.ts';
import { type SafeTypedData, safeTypedDataDigest } from './typed-data.ts';
import type { Address, Hex } from './types.ts';

/** Per-signer cache: a public key never changes for a (signer, path), and deriving it costs a scalar multiplication. */
const addressCache = new WeakMap<Secp256k1Signer, Map<string, Address>>();

/** Ethereum address of a signer's key (keccak of the uncompressed public key, last 20 bytes). */
export async function signerAddress(signer: Secp256k1Signer, path?: string): Promise<Address> {
  let m = addressCache.get(signer);
  const cached = m?.get(path ?? '');
  if (cached) return cached;
  const compressed = await signer.publicKey(path);
  const uncompressed = secp256k1.Point.fromBytes(compressed).toBytes(false);
  const address = publicKeyToAddress(`0x${bytesToHex(uncompressed)}`);
  if (!m) {
    m = new Map();
    addressCache.set(signer, m);
  }
  m.set(path ?? '', address);
  return address;
}

const word = (n: bigint) => n.toString(16).padStart(64, '0');

/**
 * Signs a Safe transaction's EIP-712 digest, recomputed here from the typed data (never a hash
 * handed in, never eth_sign's "\x19Ethereum Signed Message" wrapper). Returns the 65-byte
 * signature r ‖ s ‖ v with v = 27 + yParity — the form Safe's checkSignatures treats as a plain
 * ECDSA signature over the safeTxHash (v > 30 would mean eth_sign).
 */
export async function signSafeTx(
  typedData: SafeTypedData,
  signer: Secp256k1Signer,
  path?: string,
): Promise<{ signature: Hex; owner: Address; safeTxHash: Hex }> {
  const digest = safeTypedDataDigest(typedData);
  const sig = await signer.signDigest(digest, path);
  const owner = await signerAddress(signer, path);
  return {
    signature: `0x${word(sig.r)}${word(sig.s)}${(27 + sig.recovery).toString(16)}`,
    owner,
    safeTxHash: `0x${bytesToHex(digest)}`,
  };
}

/**
 * Signs an unsigned EIP-1559 transaction (the exact bytes the co-signer verified) and returns the
 * signed serialized transaction. The payload is decoded strictly again here so a caller cannot
 * sign bytes other than a canonical unsigned EIP-1559 transaction.
 */
export async function signHotTx(unsignedTx: Hex, signer: Secp256k1Signer, path?: string): Promise<Hex> {
  const d = decodeUnsignedEip1559(unsignedTx);
  if (!d.ok) throw new CustosError(d.code, d.message);
  const sig = await signer.signDigest(hexToBytes(d.value.signingHash.slice(2)), path);
  const tx = parseTransaction(unsignedTx) as TransactionSerializableEIP1559;
  return serializeTransaction(tx, { r: `0x${word(sig.r)}`, s: `0x${word(sig.s)}`, yParity: sig.recovery });
}
