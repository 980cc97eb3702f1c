import { base64urlnopad } from '@scure/base';
import { verifyRegistrationResponse } from '@simplewebauthn/server';
import { fail, ok, type Result } from '../errors/base.ts';
import type { Credential, WebAuthnExpectations } from './types.ts';

/** COSE algorithm ES256 (ECDSA P-256 / SHA-256): the only passkey algorithm Custos admits. */
export const COSE_ES256 = -7;

export type RegistrationFailureCode = 'WEBAUTHN_REGISTRATION_FAILED' | 'CREDENTIAL_EXISTS';

/**
 * Verifies a passkey registration (WebAuthn L3 §7.1) with @simplewebauthn/server and returns the
 * credential to record. Every expected value is the caller's: the challenge it issued (single
 * use, the caller's store enforces that), the relying party and origins, and `now` for addedAt.
 * User verification is required (a PIN or biometric, not just a touch); only ES256 keys are
 * admitted; the attestation format and AAGUID are recorded; the signature counter starts from
 * the registration value; `existingCredentialIds` refuses a credential id already registered to
 * anyone (§7.1 step 22: a credential id must not be registered twice).
 */
export async function verifyPasskeyRegistration(params: {
  response: unknown;
  expectedChallenge: string;
  webauthn: WebAuthnExpectations;
  now: string;
  existingCredentialIds?: ReadonlySet<string>;
}): Promise<Result<Credential, RegistrationFailureCode>> {
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response: params.response as Parameters<typeof verifyRegistrationResponse>[0]['response'],
      expectedChallenge: params.expectedChallenge,
      expectedOrigin: params.webauthn.origins,
      expectedRPID: params.webauthn.rpId,
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: [COSE_ES256],
    });
  } catch (cause) {
    return fail('WEBAUTHN_REGISTRATION_FAILED', cause instanceof Error ? cause.message : String(cause));
  }
  if (!verified.verified) return fail('WEBAUTHN_REGISTRATION_FAILED', 'registration not verified');
  const info = verified.registrationInfo;
  if (!info.userVerified) return fail('WEBAUTHN_REGISTRATION_FAILED', 'user verification required');
  if (params.existingCredentialIds?.has(info.credential.id)) {
    return fail('CREDENTIAL_EXISTS', 'this credential id is already registered');
  }
  return ok({
    id: info.credential.id,
    type: 'webauthn',
    publicKey: base64urlnopad.encode(info.credential.publicKey),
    status: 'active',
    addedAt: params.now,
    counter: info.credential.counter,
    attestation: { fmt: info.fmt, aaguid: info.aaguid },
  });
}
