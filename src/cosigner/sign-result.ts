import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { publicKeyToAddress } from 'viem/accounts';
import type { SignatureResult, TxPayload } from '../core/auth/cosigner-api.ts';
import type { EcdsaSignature, Secp256k1Signer } from '../keys/backend.ts';
import { derSignature } from '../keys/ecdsa.ts';
import type { VerifiedTx } from './checks.ts';

/** SIGHASH_ALL (BIP 143 / BIP 174): the only sighash the co-signer produces. */
const SIGHASH_ALL = 0x01;

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
  const sigs: { sig: EcdsaSignature; pub: Uint8Array; input?: number }[] = [];
  for (const item of v.toSign) {
    const sig = await signer.signDigest(item.digest, item.path);
    sigs.push({ sig, pub: await signer.publicKey(item.path), input: item.input });
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
    case 'psbt': {
      // BIP 174 PSBT_IN_PARTIAL_SIG: <pubkey> → <DER signature || sighash byte>.
      const t = Transaction.fromPSBT(base64.decode(tx.psbt), {
        allowUnknownOutputs: true,
        allowUnknownInputs: true,
      });
      const partialSigs = sigs.map(({ sig, pub, input }) => {
        if (input === undefined) throw new Error('psbt signature without an input index');
        const s = new Uint8Array([...derSignature(sig), SIGHASH_ALL]);
        t.updateInput(input, { partialSig: [[pub, s]] }, true);
        return { input, pubkey: bytesToHex(pub), signature: bytesToHex(s) };
      });
      return { kind: 'psbt', psbt: base64.encode(t.toPSBT()), partialSigs };
    }
  }
}
