import { ed25519 } from '@noble/curves/ed25519.js';
import { canonicalJson } from '../encoding/canonical-json.ts';

/**
 * Signed checkpoints: the node's Ed25519 key signs (seq, hash, at) of the chain head every N
 * entries or on demand. An attacker with database write access can rewrite and re-hash the chain,
 * but not re-sign a checkpoint without the node key; deleting entries covered by a checkpoint
 * shows as truncation.
 *
 * Protocol constant, version 1:
 *   payload   = UTF-8( "CUSTOS-AUDIT-CHECKPOINT-V1\n" || JCS({"at":at,"hash":hash,"seq":seq}) )
 *   signature = Ed25519 (RFC 8032, pure) over payload, 64 bytes, hex
 *   keyId     = the signer's 32-byte Ed25519 public key, hex
 */
export const CHECKPOINT_DOMAIN_TAG = 'CUSTOS-AUDIT-CHECKPOINT-V1\n';

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: string;
  keyId: string;
  signature: string;
}

const encoder = new TextEncoder();

export function checkpointPayload(c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'at'>): Uint8Array {
  return encoder.encode(CHECKPOINT_DOMAIN_TAG + canonicalJson({ at: c.at, hash: c.hash, seq: c.seq }));
}

/** Signs checkpoints; the store gets one from the node keystore (see src/store/audit-signer.ts). */
export interface CheckpointSigner {
  /** Ed25519 public key, hex (the checkpoint's keyId). */
  readonly keyId: string;
  sign(payload: Uint8Array): Uint8Array;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/**
 * Verifies a checkpoint signature. Strict RFC 8032 verification (no ZIP-215 leniency: non-canonical
 * encodings of R, A or S are refused), the key must be one of `trustedKeys`.
 */
export function verifyCheckpointSignature(
  c: AuditCheckpoint,
  trustedKeys: ReadonlySet<string>,
): 'ok' | 'unknown-key' | 'bad-signature' {
  if (!trustedKeys.has(c.keyId)) return 'unknown-key';
  if (!HEX64.test(c.keyId) || !HEX128.test(c.signature)) return 'bad-signature';
  try {
    const ok = ed25519.verify(
      Buffer.from(c.signature, 'hex'),
      checkpointPayload(c),
      Buffer.from(c.keyId, 'hex'),
      { zip215: false },
    );
    return ok ? 'ok' : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}
