import { InvalidInputError } from '../errors/base.ts';
import { ed25519KeyProblem } from './ed25519-key.ts';
import { p256KeyObject } from './keys.ts';
import { type Credential, type Principal, principalSchema, type WebAuthnExpectations } from './types.ts';

export interface PrincipalSetOptions {
  /** Required to verify WebAuthn assertions: the relying party id and the allowed origins. */
  webauthn?: WebAuthnExpectations;
}

/**
 * The principals of one configuration (a trust bundle or the coordinator's store), validated once
 * and indexed by principal id and by credential id.
 *
 * Construction refuses: an unknown field; two principals with one id; one credential id used
 * twice anywhere (a credential id must name exactly one key of exactly one principal, or a
 * signature could be attributed to the wrong person); one public key under two credentials; an Ed25519 key that is non-canonical or
 * of small order; a WebAuthn key that is not an ES256 P-256 point.
 */
export class PrincipalSet {
  readonly principals: readonly Principal[];
  readonly webauthn: WebAuthnExpectations | undefined;
  private readonly byId = new Map<string, Principal>();
  private readonly byCredential = new Map<string, { principal: Principal; credential: Credential }>();
  private readonly keys = new Set<string>();

  constructor(principals: readonly unknown[], options: PrincipalSetOptions = {}) {
    const parsed: Principal[] = [];
    principals.forEach((raw, i) => {
      const r = principalSchema.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        throw new InvalidInputError(
          'INVALID_PRINCIPAL',
          `principals/${i}/${issue.path.join('/')}`,
          issue.message,
        );
      }
      const p = r.data;
      if (this.byId.has(p.id)) {
        throw new InvalidInputError('DUPLICATE_PRINCIPAL', `principals/${i}/id`, 'principal id used twice');
      }
      this.byId.set(p.id, p);
      p.credentials.forEach((c, j) => {
        const field = `principals/${i}/credentials/${j}`;
        if (this.byCredential.has(c.id)) {
          throw new InvalidInputError('DUPLICATE_CREDENTIAL', `${field}/id`, 'credential id used twice');
        }
        // One key, one credential: the same key under two credential ids (or two principals) would
        // let one key holder count as two approvers or two admins.
        const keyId = `${c.type}:${c.publicKey}`;
        if (this.keys.has(keyId)) {
          throw new InvalidInputError('DUPLICATE_KEY', `${field}/publicKey`, 'public key registered twice');
        }
        this.keys.add(keyId);
        if (c.type === 'ed25519') {
          const problem = ed25519KeyProblem(c.publicKey);
          if (problem)
            throw new InvalidInputError('INVALID_KEY', `${field}/publicKey`, `Ed25519 key ${problem}`);
        } else {
          try {
            p256KeyObject(c.publicKey);
          } catch (cause) {
            throw new InvalidInputError('INVALID_KEY', `${field}/publicKey`, 'not an ES256 COSE key', {
              cause,
            });
          }
        }
        if (c.status === 'revoked' && c.revokedAt === undefined) {
          throw new InvalidInputError(
            'INVALID_PRINCIPAL',
            `${field}/revokedAt`,
            'a revoked credential needs revokedAt',
          );
        }
        this.byCredential.set(c.id, { principal: p, credential: c });
      });
      parsed.push(p);
    });
    this.principals = parsed;
    this.webauthn = options.webauthn;
  }

  get(id: string): Principal | undefined {
    return this.byId.get(id);
  }

  credential(credentialId: string): { principal: Principal; credential: Credential } | undefined {
    return this.byCredential.get(credentialId);
  }

  /** Active Ed25519 keys of active admins (governance signatures). */
  adminKeys(): { principal: string; credentialId: string; publicKey: string }[] {
    const out: { principal: string; credentialId: string; publicKey: string }[] = [];
    for (const p of this.principals) {
      if (p.status !== 'active' || !p.roles.includes('admin')) continue;
      for (const c of p.credentials) {
        if (c.status === 'active' && c.type === 'ed25519') {
          out.push({ principal: p.id, credentialId: c.id, publicKey: c.publicKey });
        }
      }
    }
    return out;
  }
}
