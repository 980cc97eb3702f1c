/**
 * The one interface every key backend implements (encrypted keystore file, PKCS#11 HSM, and the
 * in-memory test double). Chain code signs through it and never sees key material.
 *
 * Verification rules stated, not implied: ECDSA over secp256k1 on a 32-byte digest that the
 * caller computed (sighash, EIP-712 hash, tx signing hash) — the backend does not hash again;
 * `s` is always normalized to the lower half of the order (BIP 62 / BIP 146 LOW_S, EIP-2), and the
 * recovery id is given for that normalized signature.
 */
export interface EcdsaSignature {
  r: bigint;
  s: bigint;
  /** 0 or 1: y-parity of R after low-S normalization (Ethereum `yParity`). */
  recovery: 0 | 1;
}

export interface Secp256k1Signer {
  readonly backend: 'file' | 'pkcs11' | 'memory';
  /** Stable id of the key (keystore label or PKCS#11 CKA_ID/label). */
  readonly keyId: string;
  /**
   * 33-byte compressed public key. `path` is a BIP 32 derivation path relative to the backend's
   * root key (e.g. "m/0/5"), only for backends holding an extended key; others refuse a path.
   */
  publicKey(path?: string): Promise<Uint8Array>;
  /** ECDSA-sign a 32-byte digest, low-S. */
  signDigest(digest: Uint8Array, path?: string): Promise<EcdsaSignature>;
  /** BIP 340 Schnorr signature of a 32-byte message (taproot key path); not every backend can. */
  schnorrSign?(message: Uint8Array, path?: string, tweak?: Uint8Array): Promise<Uint8Array>;
  /** Extended public key (xpub) for backends that hold a BIP 32 root; undefined otherwise. */
  xpub?(path?: string): Promise<string>;
  /** Releases the session / wipes key material. */
  close(): Promise<void>;
}
