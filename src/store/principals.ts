import { CustosError, fail, ok, type Result } from '../core/errors/base.ts';
import { PrincipalSet, type PrincipalSetOptions } from '../core/identity/principal-set.ts';
import type { Credential, Principal } from '../core/identity/types.ts';
import type { Db, Queryable } from './db.ts';

/**
 * Principals and credentials as the coordinator knows them, with their full history. Credentials
 * are never deleted (a trigger refuses it): rotation adds the new credential and revokes the old
 * one in one transaction, recording `replaced_by`; every change appends to `principal_history`.
 *
 * The effective, authoritative set is the one in the admin-signed trust bundle; the governance
 * service calls {@link PrincipalStore.syncFromBundle} when a proposal executes. Revocation may also
 * be applied here directly (it only ever removes power) so the coordinator stops accepting a
 * stolen key at once; co-signers learn it from the next bundle.
 */
export const PRINCIPAL_SQL = {
  insertPrincipal: `INSERT INTO principals (id, kind, roles, groups, status, created_at)
                    VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6)`,
  updatePrincipal: `UPDATE principals SET kind = $2, roles = $3::jsonb, groups = $4::jsonb, status = $5,
                      revoked_at = CASE WHEN $5 = 'revoked' THEN COALESCE(revoked_at, $6) ELSE NULL END
                    WHERE id = $1`,
  insertCredential: `INSERT INTO principal_credentials
                       (id, principal_id, type, public_key, status, added_at, revoked_at, counter, attestation)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
  revokeCredential: `UPDATE principal_credentials SET status = 'revoked', revoked_at = $2, replaced_by = $3
                     WHERE id = $1 AND status = 'active'`,
  revokePrincipal: `UPDATE principals SET status = 'revoked', revoked_at = $2 WHERE id = $1 AND status = 'active'`,
  // Monotonic counter (WebAuthn §6.1.1): only moves forward; a regression hints at a cloned authenticator.
  bumpCounter: `UPDATE principal_credentials SET counter = $2
                WHERE id = $1 AND status = 'active' AND (COALESCE(counter, 0) < $2)`,
  getCredential: `SELECT id, principal_id, counter, status FROM principal_credentials WHERE id = $1`,
  history: `INSERT INTO principal_history (principal_id, event, credential_id, at, actor, body)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
  listHistory: `SELECT seq, event, credential_id, at, actor, body FROM principal_history
                WHERE principal_id = $1 ORDER BY seq`,
  allPrincipals: `SELECT id, kind, roles, groups, status, created_at FROM principals ORDER BY id`,
  allCredentials: `SELECT id, principal_id, type, public_key, status, added_at, revoked_at, counter, attestation
                     FROM principal_credentials ORDER BY added_at, id`,
} as const;

const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

export interface PrincipalEvent {
  seq: number;
  event: string;
  credentialId: string | null;
  at: string;
  actor: string;
  body: unknown;
}

export class PrincipalStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => string,
  ) {}

  /** Adds a principal with its credentials (validated as a PrincipalSet first). */
  async add(p: Principal, actor: string, tx?: Queryable): Promise<void> {
    new PrincipalSet([p]);
    const run = async (q: Queryable) => {
      await q.query(PRINCIPAL_SQL.insertPrincipal, principalRowParams(p, this.now()));
      await q.query(PRINCIPAL_SQL.history, [
        p.id,
        'principal.added',
        null,
        this.now(),
        actor,
        JSON.stringify({ roles: p.roles, groups: p.groups }),
      ]);
      for (const c of p.credentials) await this.insertCredential(q, p.id, c, actor);
    };
    await (tx ? run(tx) : this.db.transaction(run));
  }

  private async insertCredential(
    q: Queryable,
    principalId: string,
    c: Credential,
    actor: string,
  ): Promise<void> {
    try {
      await q.query(PRINCIPAL_SQL.insertCredential, [
        c.id,
        principalId,
        c.type,
        c.publicKey,
        c.status,
        c.addedAt,
        c.revokedAt ?? null,
        c.counter ?? null,
        c.attestation ? JSON.stringify(c.attestation) : null,
      ]);
    } catch (cause) {
      // Unique violations: the credential id or the public key is already registered (to anyone).
      if ((cause as { code?: string }).code === '23505') {
        throw new CustosError('CREDENTIAL_EXISTS', 'credential id or public key already registered', {
          cause,
          details: { credentialId: c.id },
        });
      }
      throw cause;
    }
    await q.query(PRINCIPAL_SQL.history, [
      principalId,
      'credential.added',
      c.id,
      this.now(),
      actor,
      JSON.stringify({ type: c.type, publicKey: c.publicKey }),
    ]);
  }

  async addCredential(principalId: string, c: Credential, actor: string): Promise<void> {
    const p = (await this.list()).find((x) => x.id === principalId);
    if (!p) throw new CustosError('UNKNOWN_PRINCIPAL', 'no such principal', { details: { principalId } });
    new PrincipalSet([{ ...p, credentials: [...p.credentials, c] }]);
    await this.db.transaction((tx) => this.insertCredential(tx, principalId, c, actor));
  }

  /** Adds `next` and revokes `oldCredentialId` atomically (the old key stops working at once). */
  async rotate(principalId: string, oldCredentialId: string, next: Credential, actor: string): Promise<void> {
    const p = (await this.list()).find((x) => x.id === principalId);
    const old = p?.credentials.find((c) => c.id === oldCredentialId);
    if (!p || !old) throw new CustosError('UNKNOWN_CREDENTIAL', 'no such credential for this principal');
    if (old.status !== 'active') throw new CustosError('CREDENTIAL_REVOKED', 'credential already revoked');
    new PrincipalSet([{ ...p, credentials: [...p.credentials, next] }]);
    await this.db.transaction(async (tx) => {
      await this.insertCredential(tx, principalId, next, actor);
      await tx.query(PRINCIPAL_SQL.revokeCredential, [oldCredentialId, this.now(), next.id]);
      await tx.query(PRINCIPAL_SQL.history, [
        principalId,
        'credential.rotated',
        oldCredentialId,
        this.now(),
        actor,
        JSON.stringify({ replacedBy: next.id }),
      ]);
    });
  }

  async revokeCredential(credentialId: string, actor: string, reason = ''): Promise<Result> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ principal_id: string }>(PRINCIPAL_SQL.getCredential, [credentialId]);
      if (rows.length === 0) return fail('UNKNOWN_CREDENTIAL', 'no such credential');
      const r = await tx.query(PRINCIPAL_SQL.revokeCredential, [credentialId, this.now(), null]);
      if (r.rowCount === 0) return fail('CREDENTIAL_REVOKED', 'credential already revoked');
      await tx.query(PRINCIPAL_SQL.history, [
        rows[0]!.principal_id,
        'credential.revoked',
        credentialId,
        this.now(),
        actor,
        JSON.stringify({ reason }),
      ]);
      return ok();
    });
  }

  async revokePrincipal(id: string, actor: string, reason = ''): Promise<Result> {
    return this.db.transaction(async (tx) => {
      const r = await tx.query(PRINCIPAL_SQL.revokePrincipal, [id, this.now()]);
      if (r.rowCount === 0) return fail('UNKNOWN_PRINCIPAL', 'no such active principal');
      await tx.query(PRINCIPAL_SQL.history, [
        id,
        'principal.revoked',
        null,
        this.now(),
        actor,
        JSON.stringify({ reason }),
      ]);
      return ok();
    });
  }

  /**
   * Records a WebAuthn signature counter after a verified assertion. Counters only move forward;
   * a counter that did not increase (when the authenticator counts at all) is refused as a
   * possible clone (WebAuthn L3 §6.1.1). Pass `tx` to bump it in the caller's transaction (the
   * coordinator does, with the approval it stores, so a refused assertion leaves nothing behind).
   */
  async recordCounter(credentialId: string, signCount: number, tx: Queryable = this.db): Promise<Result> {
    if (signCount === 0) {
      // Zero: the authenticator does not count — acceptable only if it never did. After a non-zero
      // counter a zero means another authenticator holds the key (WebAuthn L3 §6.1.1 step 21).
      const { rows } = await tx.query<{ counter: string | number | null }>(PRINCIPAL_SQL.getCredential, [
        credentialId,
      ]);
      if (Number(rows[0]?.counter ?? 0) > 0)
        return fail('WEBAUTHN_COUNTER', 'signature counter went back to 0: possible cloned authenticator');
      return ok();
    }
    const r = await tx.query(PRINCIPAL_SQL.bumpCounter, [credentialId, signCount]);
    if (r.rowCount === 0)
      return fail('WEBAUTHN_COUNTER', 'signature counter did not increase: possible cloned authenticator');
    return ok();
  }

  async list(q: Queryable = this.db): Promise<Principal[]> {
    const ps = (await q.query<Record<string, unknown>>(PRINCIPAL_SQL.allPrincipals)).rows;
    const cs = (await q.query<Record<string, unknown>>(PRINCIPAL_SQL.allCredentials)).rows;
    return ps.map((p) => ({
      id: String(p.id),
      kind: p.kind as Principal['kind'],
      roles: json(p.roles),
      groups: json(p.groups),
      status: p.status as Principal['status'],
      credentials: cs
        .filter((c) => c.principal_id === p.id)
        .map((c) => {
          const cred: Credential = {
            id: String(c.id),
            type: c.type as Credential['type'],
            publicKey: String(c.public_key),
            status: c.status as Credential['status'],
            addedAt: String(c.added_at),
          };
          if (c.revoked_at !== null) cred.revokedAt = String(c.revoked_at);
          if (c.counter !== null) cred.counter = Number(c.counter);
          if (c.attestation !== null) cred.attestation = json(c.attestation);
          return cred;
        }),
    }));
  }

  async principalSet(options: PrincipalSetOptions = {}): Promise<PrincipalSet> {
    return new PrincipalSet(await this.list(), options);
  }

  async history(principalId: string): Promise<PrincipalEvent[]> {
    const { rows } = await this.db.query<Record<string, unknown>>(PRINCIPAL_SQL.listHistory, [principalId]);
    return rows.map((r) => ({
      seq: Number(r.seq),
      event: String(r.event),
      credentialId: r.credential_id === null ? null : String(r.credential_id),
      at: String(r.at),
      actor: String(r.actor),
      body: json(r.body),
    }));
  }

  /**
   * Brings the tables in line with an executed trust bundle, inside the caller's transaction:
   * new principals and credentials are inserted, changed roles/groups/status updated, credentials
   * revoked in the bundle (or dropped from it) revoked. Nothing is deleted, a revoked credential is
   * never re-activated, and a principal absent from the bundle is revoked (with its credentials). Stored counters are never
   * touched (a bundle carries the counter seen at registration, older than the stored one), so
   * re-applying the same bundle (a restart) changes nothing. Returns how many rows changed.
   */
  async syncFromBundle(tx: Queryable, principals: Principal[], actor: string): Promise<number> {
    const existing = new Map((await this.list(tx)).map((p) => [p.id, p]));
    const seen = new Set<string>();
    let changes = 0;
    const revokeCredential = async (principalId: string, c: Credential, at: string, why: string) => {
      await tx.query(PRINCIPAL_SQL.revokeCredential, [c.id, at, null]);
      await tx.query(PRINCIPAL_SQL.history, [
        principalId,
        'credential.revoked',
        c.id,
        this.now(),
        actor,
        JSON.stringify({ via: 'bundle', reason: why }),
      ]);
      changes++;
    };
    for (const p of principals) {
      seen.add(p.id);
      const cur = existing.get(p.id);
      if (!cur) {
        await this.add(p, actor, tx);
        changes += 1 + p.credentials.length;
        continue;
      }
      if (
        JSON.stringify([cur.kind, cur.roles, cur.groups, cur.status]) !==
        JSON.stringify([p.kind, p.roles, p.groups, p.status])
      ) {
        await tx.query(PRINCIPAL_SQL.updatePrincipal, principalRowParams(p, this.now()));
        await tx.query(PRINCIPAL_SQL.history, [
          p.id,
          'principal.updated',
          null,
          this.now(),
          actor,
          JSON.stringify({ roles: p.roles, groups: p.groups, status: p.status }),
        ]);
        changes++;
      }
      const curCreds = new Map(cur.credentials.map((c) => [c.id, c]));
      for (const c of p.credentials) {
        const had = curCreds.get(c.id);
        if (!had) {
          await this.insertCredential(tx, p.id, c, actor);
          changes++;
        } else if (had.status === 'active' && c.status === 'revoked') {
          await revokeCredential(p.id, c, c.revokedAt ?? this.now(), 'revoked');
        }
      }
      // A credential the bundle no longer lists can no longer sign: its row must not stay active.
      const listed = new Set(p.credentials.map((c) => c.id));
      for (const c of cur.credentials) {
        if (c.status === 'active' && !listed.has(c.id))
          await revokeCredential(p.id, c, this.now(), 'dropped');
      }
    }
    for (const [id, p] of existing) {
      if (seen.has(id)) continue;
      if (p.status === 'active') {
        await tx.query(PRINCIPAL_SQL.revokePrincipal, [id, this.now()]);
        await tx.query(PRINCIPAL_SQL.history, [
          id,
          'principal.revoked',
          null,
          this.now(),
          actor,
          JSON.stringify({ via: 'bundle' }),
        ]);
        changes++;
      }
      for (const c of p.credentials) {
        if (c.status === 'active') await revokeCredential(id, c, this.now(), 'principal dropped');
      }
    }
    return changes;
  }
}

/** Bound parameters of a principal row, in the column order of insertPrincipal / updatePrincipal. */
function principalRowParams(p: Principal, now: string): unknown[] {
  return [p.id, p.kind, JSON.stringify(p.roles), JSON.stringify(p.groups), p.status, now];
}
