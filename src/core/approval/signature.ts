import { z } from 'zod';
import { CREDENTIAL_ID_RE, PRINCIPAL_ID_RE } from '../identity/types.ts';

/**
 * Wire shapes of a signature by a principal over an action digest (intent submission, approval,
 * cancel, vote). All binary fields are unpadded base64url (RFC 4648 §5), decoded strictly.
 *
 *  - ed25519:  `signature` is the 64-byte RFC 8032 signature over the 32-byte digest itself.
 *  - webauthn: an assertion (WebAuthn L3 §7.2) whose clientDataJSON.challenge is base64url(digest);
 *    `signature` is the DER ECDSA P-256/SHA-256 signature over authenticatorData || SHA-256(clientDataJSON).
 */
const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const b64url = (max: number) => z.string().min(1).max(max).regex(B64URL_RE, 'must be unpadded base64url');

const base = {
  principal: z.string().regex(PRINCIPAL_ID_RE, 'must be a principal id'),
  credentialId: z.string().regex(CREDENTIAL_ID_RE, 'must be a credential id'),
};

export const ed25519SignatureSchema = z
  .object({ ...base, type: z.literal('ed25519'), signature: b64url(86) })
  .strict();

export const webauthnSignatureSchema = z
  .object({
    ...base,
    type: z.literal('webauthn'),
    authenticatorData: b64url(2048),
    clientDataJSON: b64url(4096),
    signature: b64url(200),
  })
  .strict();

export const intentSignatureSchema = z.discriminatedUnion('type', [
  ed25519SignatureSchema,
  webauthnSignatureSchema,
]);

export type Ed25519Signature = z.infer<typeof ed25519SignatureSchema>;
export type WebAuthnSignature = z.infer<typeof webauthnSignatureSchema>;
export type IntentSignature = z.infer<typeof intentSignatureSchema>;

const approvalFields = {
  decision: z.enum(['approve', 'reject']),
  /** The intent digest (hex) the approver believes it signed; checked against the recomputed one. */
  intentDigest: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters'),
};

export const approvalSchema = z.discriminatedUnion('type', [
  z.object({ ...ed25519SignatureSchema.shape, ...approvalFields }).strict(),
  z.object({ ...webauthnSignatureSchema.shape, ...approvalFields }).strict(),
]);

/** An approver's signed decision on one intent. */
export type Approval = z.infer<typeof approvalSchema>;
