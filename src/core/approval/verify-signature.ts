import { verify as nodeVerify } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { base64urlnopad } from '@scure/base';
import { parseStrictJson } from '../encoding/strict-json.ts';
import { fail, ok, type Result } from '../errors/base.ts';
import { ed25519KeyObject, p256KeyObject } from '../identity/keys.ts';
import type { PrincipalSet } from '../identity/principal-set.ts';
import type { Credential, Principal, WebAuthnExpectations } from '../identity/types.ts';
import type { IntentSignature } from './signature.ts';

export type SignatureFailureCode =
  | 'UNKNOWN_CREDENTIAL'
  | 'CREDENTIAL_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'WEBAUTHN_NOT_CONFIGURED'
  | 'WEBAUTHN_MALFORMED'
  | 'WEBAUTHN_TYPE'
  | 'WEBAUTHN_CHALLENGE'
  | 'WEBAUTHN_ORIGIN'
  | 'WEBAUTHN_CROSS_ORIGIN'
  | 'WEBAUTHN_RP_ID'
  | 'WEBAUTHN_USER_PRESENCE'
  | 'WEBAUTHN_USER_VERIFICATION';

export interface VerifiedSignature {
  principal: Principal;
  credential: Credential;
  /** WebAuthn signature counter from authenticatorData (the caller's store decides on clones). */
  signCount?: number;
}

function decode(s: string): Uint8Array | undefined {
  try {
    return base64urlnopad.decode(s);
  } catch {
    return undefined;
  }
}

/**
 * Verifies `sig` over `digest` (32 bytes) and returns the principal and credential that made it.
 * It does not look at roles or status: callers decide what the signer may do.
 *
 * Ed25519 (RFC 8032 §5.1.7, strict): node:crypto/OpenSSL refuses S ≥ L (non-canonical S) and
 * undecodable R; keys were checked canonical and not small-order when the PrincipalSet was built.
 */
export function verifySignatureOver(
  digest: Uint8Array,
  sig: IntentSignature,
  principals: PrincipalSet,
): Result<VerifiedSignature, SignatureFailureCode> {
  const found = principals.credential(sig.credentialId);
  if (!found) return fail('UNKNOWN_CREDENTIAL', 'no principal holds this credential id');
  // The credential must belong to the principal the signature claims: attribution is by the
  // configuration, never by the signer's say-so.
  if (found.principal.id !== sig.principal || found.credential.type !== sig.type) {
    return fail('CREDENTIAL_MISMATCH', 'credential does not belong to this principal or has another type');
  }
  const signature = decode(sig.signature);
  if (!signature) return fail('BAD_SIGNATURE', 'signature is not valid base64url');
  if (sig.type === 'ed25519') {
    if (signature.length !== 64) return fail('BAD_SIGNATURE', 'Ed25519 signature must be 64 bytes');
    const key = ed25519KeyObject(found.credential.publicKey);
    if (!nodeVerify(null, digest, key, signature)) return fail('BAD_SIGNATURE', 'Ed25519 signature invalid');
    return ok({ principal: found.principal, credential: found.credential });
  }
  const expect = principals.webauthn;
  if (!expect) return fail('WEBAUTHN_NOT_CONFIGURED', 'no relying party configured for WebAuthn');
  const r = verifyAssertion(digest, sig, found.credential.publicKey, signature, expect);
  if (!r.ok) return r;
  return ok({ principal: found.principal, credential: found.credential, signCount: r.value });
}

const rpIdHashes = new Map<string, Uint8Array>();
function rpIdHash(rpId: string): Uint8Array {
  let h = rpIdHashes.get(rpId);
  if (!h) {
    h = sha256(utf8ToBytes(rpId));
    if (rpIdHashes.size > 64) rpIdHashes.clear();
    rpIdHashes.set(rpId, h);
  }
  return h;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

/**
 * WebAuthn assertion verification (W3C WebAuthn L3 §7.2), with every expected value from the
 * caller: type "webauthn.get" (step 11), challenge = base64url(digest) (12), origin in the
 * allowed list (13), not cross-origin (13, iframes), rpIdHash = SHA-256(rpId) (15), UP (16) and UV
 * (17: required — a passkey approval must prove the person, not just a touch), signature over
 * authenticatorData || SHA-256(clientDataJSON) with the registered ES256 key (20).
 * Returns the authenticator's signature counter.
 */
function verifyAssertion(
  digest: Uint8Array,
  sig: Extract<IntentSignature, { type: 'webauthn' }>,
  publicKey: string,
  signature: Uint8Array,
  expect: WebAuthnExpectations,
): Result<number, SignatureFailureCode> {
  const authData = decode(sig.authenticatorData);
  const clientDataBytes = decode(sig.clientDataJSON);
  if (!authData || !clientDataBytes || authData.length < 37) {
    return fail('WEBAUTHN_MALFORMED', 'authenticatorData or clientDataJSON malformed');
  }
  let clientData: { type?: unknown; challenge?: unknown; origin?: unknown; crossOrigin?: unknown };
  try {
    const parsed = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(clientDataBytes));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not object');
    clientData = parsed as typeof clientData;
  } catch {
    return fail('WEBAUTHN_MALFORMED', 'clientDataJSON is not a JSON object');
  }
  if (clientData.type !== 'webauthn.get')
    return fail('WEBAUTHN_TYPE', 'clientData.type must be webauthn.get');
  if (clientData.challenge !== base64urlnopad.encode(digest)) {
    return fail('WEBAUTHN_CHALLENGE', 'assertion challenge is not this action digest');
  }
  if (typeof clientData.origin !== 'string' || !expect.origins.includes(clientData.origin)) {
    return fail('WEBAUTHN_ORIGIN', 'assertion made on an origin that is not allowed', {
      origin: clientData.origin,
    });
  }
  if (clientData.crossOrigin === true)
    return fail('WEBAUTHN_CROSS_ORIGIN', 'assertion made in a cross-origin frame');
  if (!sameBytes(authData.subarray(0, 32), rpIdHash(expect.rpId))) {
    return fail('WEBAUTHN_RP_ID', 'assertion is for another relying party');
  }
  const flags = authData[32]!;
  if ((flags & FLAG_UP) === 0) return fail('WEBAUTHN_USER_PRESENCE', 'user presence flag not set');
  if ((flags & FLAG_UV) === 0) return fail('WEBAUTHN_USER_VERIFICATION', 'user verification flag not set');
  if ((flags & FLAG_AT) !== 0)
    return fail('WEBAUTHN_MALFORMED', 'assertion carries attested credential data');
  let key: ReturnType<typeof p256KeyObject>;
  try {
    key = p256KeyObject(publicKey);
  } catch {
    return fail('BAD_SIGNATURE', 'credential public key unusable');
  }
  const signed = concatBytes(authData, sha256(clientDataBytes));
  let valid = false;
  try {
    valid = nodeVerify('sha256', signed, { key, dsaEncoding: 'der' }, signature);
  } catch {
    valid = false; // malformed DER
  }
  if (!valid) return fail('BAD_SIGNATURE', 'WebAuthn signature invalid');
  const view = new DataView(authData.buffer, authData.byteOffset, authData.byteLength);
  return ok(view.getUint32(33, false));
}
