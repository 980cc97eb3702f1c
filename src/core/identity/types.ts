import { z } from 'zod';
import { RFC3339_UTC_RE } from '../intent/schema.ts';

/**
 * Principals (users and services) and their credentials.
 *
 * A principal is a person or a service; a credential is one key it signs with. One principal may
 * hold several credentials (a laptop passkey, a phone passkey, a CLI Ed25519 key): approvals are
 * counted per principal, never per credential, so a person with two keys still counts once.
 * Credentials are never deleted: rotation adds a new one and revokes the old one, so the history
 * of which key could sign what, when, stays in the configuration and in the audit log.
 */
export const ROLES = ['requester', 'approver', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PRINCIPAL_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Ed25519 ids are free-form like principal ids; WebAuthn ids are base64url (up to 1023 bytes). */
export const CREDENTIAL_ID_RE = /^[A-Za-z0-9_:.-]{1,1400}$/;
export const GROUP_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const timestamp = z.string().regex(RFC3339_UTC_RE, 'must be an RFC 3339 UTC timestamp');

export const credentialSchema = z
  .object({
    id: z.string().regex(CREDENTIAL_ID_RE, 'must be a credential id'),
    type: z.enum(['ed25519', 'webauthn']),
    /** ed25519: 64 lower-case hex chars (raw 32-byte key); webauthn: base64url COSE_Key (ES256). */
    publicKey: z.string().min(1).max(2048),
    status: z.enum(['active', 'revoked']),
    addedAt: timestamp,
    revokedAt: timestamp.optional(),
    /** WebAuthn signature counter last seen (0 for authenticators that do not count). */
    counter: z.number().int().min(0).max(0xffffffff).optional(),
    /** WebAuthn attestation recorded at registration ('none' for software and most passkeys). */
    attestation: z
      .object({ fmt: z.string().max(32), aaguid: z.string().max(64) })
      .strict()
      .optional(),
  })
  .strict();

export const principalSchema = z
  .object({
    id: z.string().regex(PRINCIPAL_ID_RE, 'must be a principal id'),
    kind: z.enum(['user', 'service']),
    roles: z.array(z.enum(ROLES)).max(ROLES.length),
    groups: z.array(z.string().regex(GROUP_RE, 'must be a group name')).max(64),
    status: z.enum(['active', 'revoked']),
    credentials: z.array(credentialSchema).max(64),
  })
  .strict();

export type Credential = z.infer<typeof credentialSchema>;
export type Principal = z.infer<typeof principalSchema>;
export type CredentialType = Credential['type'];

/** Where a WebAuthn assertion must come from: relying-party id and allowed origins (caller's config). */
export interface WebAuthnExpectations {
  rpId: string;
  origins: string[];
}
