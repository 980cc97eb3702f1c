export { ed25519KeyProblem } from './ed25519-key.ts';
export { decodeEs256CoseKey, ed25519KeyObject, p256KeyObject } from './keys.ts';
export { PrincipalSet, type PrincipalSetOptions } from './principal-set.ts';
export {
  type Credential,
  type CredentialType,
  credentialSchema,
  type Principal,
  principalSchema,
  ROLES,
  type Role,
  type WebAuthnExpectations,
} from './types.ts';
export {
  COSE_ES256,
  type RegistrationFailureCode,
  verifyPasskeyRegistration,
} from './webauthn-registration.ts';
