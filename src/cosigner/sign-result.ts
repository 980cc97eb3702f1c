import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { publicKeyToAddress } from 'viem/accounts';
import type { SignatureResult, TxPayload } from '../core/auth/cosigner-api.ts';
import type { EcdsaSignature, Secp256k1Signer } from '../keys/backend.ts';
import type { VerifiedTx } from './checks.ts';

const hex32 = (n: bigint) => `0x${n.toString(16).padStart(64, '0')}`;

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
  const sigs: { sig: EcdsaSignature; pub: Uint8Array }[] = [];
  for (const item of v.toSign) {
    const sig = await signer.signDigest(item.digest, item.path);
    // The public key is only needed for a Safe (owner address); deriving it costs a point multiplication.
    const pub = tx.kind === 'safe' ? await signer.publicKey(item.path) : new Uint8Array(0);
    sigs.push({ sig, pub });
  }
  const first = sigs[0];
  if (!first) throw new Error('chain verifier returned nothing to sign');
  switch (tx.kind) {
    case 'safe': {
      // Safe ECDSA owner signature: r || s || v, v = 27 + yParity (Safe `checkNSignatures`).
      const { sig, pub } = first;
      const uncompressed = secp256k1.Point.fromBytes(pub).toBytes(false);
      return {
        kind: 'safe',
        safeTxHash: v.txHash,
        signer: publicKeyToAddress(`0x${bytesToHex(uncompressed)}`),
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
