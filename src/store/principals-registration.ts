import { randomBytes } from 'node:crypto';
import { fail, type Result } from '../core/errors/base.ts';
import type { Credential, WebAuthnExpectations } from '../core/identity/types.ts';
import {
  COSE_ES256,
  type RegistrationFailureCode,
  verifyPasskeyRegistration,
} from '../core/identity/webauthn-registration.ts';
import type { Db } from './db.ts';
import type { PrincipalStore } from './principals.ts';

/**
 * Passkey registration ceremony (WebAuthn L3 §7.1) with single-use, short-lived challenges.
 *
 * `begin` issues a 256-bit random challenge bound to the principal; `finish` consumes it exactly
 * once (an UPDATE … WHERE used_at IS NULL AND not expired), verifies the response with
 * @simplewebauthn/server (UV required, ES256 only, attestation recorded), and refuses a credential
 * id already known. The verified credential is returned, not activated: it enters the
 * configuration through a governance proposal (`custos principal add|rotate --credential`).
 */
export const REGISTRATION_SQL = {
  insert: `INSERT INTO webauthn_challenges (challenge, principal_id, expires_at) VALUES ($1, $2, $3::timestamptz)`,
  consume: `UPDATE webauthn_challenges SET used_at = $3::timestamptz
            WHERE challenge = $1 AND principal_id = $2 AND used_at IS NULL AND expires_at > $3::timestamptz`,
} as const;

export interface RegistrationOptionsJSON {
  challenge: string;
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: { type: 'public-key'; alg: number }[];
  timeout: number;
  attestation: 'direct';
  authenticatorSelection: { residentKey: 'preferred'; userVerification: 'required' };
  excludeCredentials: { id: string; type: 'public-key' }[];
}

export class PasskeyRegistrations {
  constructor(
    private readonly db: Db,
    private readonly principals: PrincipalStore,
    private readonly options: {
      now: () => string;
      webauthn: WebAuthnExpectations;
      rpName?: string;
      ttlMs?: number;
    },
  ) {}

  async begin(principalId: string): Promise<RegistrationOptionsJSON> {
    const challenge = randomBytes(32).toString('base64url');
    const ttl = this.options.ttlMs ?? 5 * 60_000;
    const expires = new Date(Date.parse(this.options.now()) + ttl).toISOString();
    await this.db.query(REGISTRATION_SQL.insert, [challenge, principalId, expires]);
    const existing = (await this.principals.list()).find((p) => p.id === principalId);
    return {
      challenge,
      rp: { id: this.options.webauthn.rpId, name: this.options.rpName ?? 'Custos' },
      user: {
        id: Buffer.from(principalId, 'utf8').toString('base64url'),
        name: principalId,
        displayName: principalId,
      },
      pubKeyCredParams: [{ type: 'public-key', alg: COSE_ES256 }],
      timeout: ttl,
      attestation: 'direct',
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      excludeCredentials: (existing?.credentials ?? [])
        .filter((c) => c.type === 'webauthn')
        .map((c) => ({ id: c.id, type: 'public-key' as const })),
    };
  }

  async finish(
    principalId: string,
    challenge: string,
    response: unknown,
  ): Promise<Result<Credential, RegistrationFailureCode | 'CHALLENGE_INVALID'>> {
    const now = this.options.now();
    const used = await this.db.query(REGISTRATION_SQL.consume, [challenge, principalId, now]);
    if (used.rowCount === 0) return fail('CHALLENGE_INVALID', 'unknown, expired or already used challenge');
    const known = new Set((await this.principals.list()).flatMap((p) => p.credentials.map((c) => c.id)));
    return verifyPasskeyRegistration({
      response,
      expectedChallenge: challenge,
      webauthn: this.options.webauthn,
      now: now.replace(/\.\d{3}Z$/, 'Z'),
      existingCredentialIds: known,
    });
  }
}
