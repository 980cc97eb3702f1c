import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { publicKeyToAddress } from 'viem/accounts';
import type { SignatureResult, TxPayload } from '../core/auth/cosigner-api.ts';
import type { EcdsaSignature, Secp256k1Signer } from '../keys/backend.ts';
import type { VerifiedTx } from './checks.ts';

const hex32 = (n: bigint) => `0x${n.toString(16).padStart(64, '0')}`;

/**
 * The Ethereum address of a signer's key at a path. A key backend's public key never changes for a
 * (signer, path), and deriving the address costs a point decompression (a modular square root) and
 * a keccak: done once per (signer, path), not on every signature. Bounded: a signer's map is
 * dropped when it reaches MAX_PATHS paths; a closed signer's entry goes with the signer (WeakMap).
 */
const MAX_PATHS = 1024;
const owners = new WeakMap<Secp256k1Signer, Map<string, Promise<`0x${string}`>>>();

export function ownerAddress(signer: Secp256k1Signer, path?: string): Promise<`0x${string}`> {
  let byPath = owners.get(signer);
  if (!byPath) {
    byPath = new Map();
    owners.set(signer, byPath);
  }
  // `undefined` and 'm' are distinct keys on purpose: a backend may treat them differently.
  const key = path === undefined ? '' : `/${path}`;
  let address = byPath.get(key);
  if (!address) {
    if (byPath.size >= MAX_PATHS) byPath.clear();
    address = signer.publicKey(path).then(addressOf);
    // A failed derivation (closed signer, bad path) is not remembered: the next call asks again.
    address.catch(() => byPath.get(key) === address && byPath.delete(key));
    byPath.set(key, address);
  }
  return address;
}

/** keccak256 of the uncompressed public key, last 20 bytes, EIP-55 (viem's derivation). */
export function addressOf(compressed: Uint8Array): `0x${string}` {
  const uncompressed = secp256k1.Point.fromBytes(compressed).toBytes(false);
  return publicKeyToAddress(`0x${bytesToHex(uncompressed)}`);
}

/**
 * Signs every digest the chain verifier produced and shapes the wire result. Runs inside the
 * ledger transaction (pipeline.ts), so a signature exists outside this process only once the
 * ledger row that forbids a different one is committed.
 */
export async function signVerified(
  signer: Secp256k1Signer,
  v: VerifiedTx,
  tx: TxPayload,
): Promise<SignatureResult> {
  if (v.sign) return v.sign(signer);
  const sigs: { sig: EcdsaSignature; path?: string }[] = [];
  for (const item of v.toSign) {
    const sig = await signer.signDigest(item.digest, item.path);
    sigs.push({ sig, path: item.path });
  }
  const first = sigs[0];
  if (!first) throw new Error('chain verifier returned nothing to sign');
  switch (tx.kind) {
    case 'safe': {
      // Safe ECDSA owner signature: r || s || v, v = 27 + yParity (Safe `checkNSignatures`).
      const { sig, path } = first;
      return {
        kind: 'safe',
        safeTxHash: v.txHash,
        // The owner address of the key that signed (only a Safe needs it).
        signer: await ownerAddress(signer, path),
        signature: `0x${hex32(sig.r).slice(2)}${hex32(sig.s).slice(2)}${(27 + sig.recovery).toString(16)}`,
      };
    }
    case 'evm-hot': {
      const { sig } = first;
      return {
        kind: 'evm-hot',
        signingHash: v.txHash,
        r: hex32(sig.r),
        s: hex32(sig.s),
        yParity: sig.recovery,
      };
    }
    case 'psbt':
      // PSBT inputs are signed by the Bitcoin module at their derivation paths (VerifiedTx.sign).
      throw new Error('PSBT signing must go through the chain verifier');
  }
}
