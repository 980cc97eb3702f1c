import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { approvalDigest, type Decision } from '../../src/core/approval/digest.ts';
import type { Approval, IntentSignature } from '../../src/core/approval/signature.ts';
import type { Credential, Principal } from '../../src/core/identity/types.ts';
import { type Intent, intentDigest, parseIntent } from '../../src/core/intent/index.ts';
import type { ApprovalRequirement } from '../../src/core/policy/types.ts';
import type { SoftAuthenticator } from '../helpers/webauthn.ts';

export const T0 = '2026-03-01T10:00:00Z';
export const RP = { rpId: 'custos.example', origins: ['https://custos.example'] };

export class EdKey {
  readonly privateKey: KeyObject;
  readonly publicKey: string;
  constructor(readonly id: string) {
    const kp = generateKeyPairSync('ed25519');
    this.privateKey = kp.privateKey;
    const jwk = kp.publicKey.export({ format: 'jwk' });
    this.publicKey = Buffer.from(jwk.x!, 'base64url').toString('hex');
  }
  credential(extra: Partial<Credential> = {}): Credential {
    return {
      id: this.id,
      type: 'ed25519',
      publicKey: this.publicKey,
      status: 'active',
      addedAt: T0,
      ...extra,
    };
  }
  signRaw(digest: Uint8Array): string {
    return sign(null, digest, this.privateKey).toString('base64url');
  }
  sign(digest: Uint8Array, principal: string): IntentSignature {
    return { principal, credentialId: this.id, type: 'ed25519', signature: this.signRaw(digest) };
  }
}

export function passkeyCredential(a: SoftAuthenticator, extra: Partial<Credential> = {}): Credential {
  return {
    id: a.id,
    type: 'webauthn',
    publicKey: a.publicKey,
    status: 'active',
    addedAt: T0,
    counter: 0,
    ...extra,
  };
}

export function principal(
  id: string,
  roles: Principal['roles'],
  groups: string[],
  credentials: Credential[],
): Principal {
  return { id, kind: 'user', roles, groups, status: 'active', credentials };
}

export function makeIntent(over: Partial<Intent> = {}): Intent {
  return parseIntent({
    version: 1,
    id: '0b0e8f3c-6a77-4f5e-9a51-0c7d7d4b2f11',
    chain: 'eip155:1',
    asset: 'eip155:1/slip44:60',
    wallet: 'hot-1',
    destination: '0x52908400098527886E0F7030069857D2E4169EE7',
    amount: '1000000000000000000',
    reference: 'withdrawal 42',
    requestedBy: 'svc-backoffice',
    createdAt: T0,
    expiresAt: '2026-03-02T10:00:00Z',
    ...over,
  });
}

export function approveEd(
  intent: Intent,
  key: EdKey,
  principalId: string,
  decision: Decision = 'approve',
): Approval {
  const d = intentDigest(intent);
  return {
    ...(key.sign(approvalDigest(d, decision), principalId) as Extract<IntentSignature, { type: 'ed25519' }>),
    decision,
    intentDigest: bytesToHex(d),
  };
}

export function approveWebAuthn(
  intent: Intent,
  a: SoftAuthenticator,
  principalId: string,
  decision: Decision = 'approve',
): Approval {
  const d = intentDigest(intent);
  return { ...a.signDigest(approvalDigest(d, decision), principalId), decision, intentDigest: bytesToHex(d) };
}

export const REQ: ApprovalRequirement = { quorum: 2, from: ['ops'], distinct: true, excludeRequester: true };
