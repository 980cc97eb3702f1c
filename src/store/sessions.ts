import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db.ts';

/**
 * Read-only sessions (console cookie or API bearer token).
 *
 * A session identifies who is *reading*; it never authorizes a state change. Submit, approve,
 * reject, cancel, propose and vote each need a fresh signature over that action's digest
 * (core/approval/actions.ts), verified against the principal's registered key — so a stolen
 * cookie or token lets an attacker read, and nothing else (T4).
 *
 * Tokens are 256 random bits; only SHA-256(token) is stored, so a database leak yields no usable
 * token. Sessions are short-lived (default 15 minutes) and can be revoked.
 */
export const SESSION_SQL = {
  insert: `INSERT INTO sessions (token_hash, principal_id, created_at, expires_at)
           VALUES ($1, $2, $3::timestamptz, $4::timestamptz)`,
  lookup: `SELECT principal_id, expires_at FROM sessions
           WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2::timestamptz`,
  revoke: `UPDATE sessions SET revoked_at = $2::timestamptz WHERE token_hash = $1 AND revoked_at IS NULL`,
  revokeAllFor: `UPDATE sessions SET revoked_at = $2::timestamptz WHERE principal_id = $1 AND revoked_at IS NULL`,
  purge: `DELETE FROM sessions WHERE expires_at <= $1::timestamptz`,
} as const;

export const DEFAULT_SESSION_TTL_MS = 15 * 60_000;
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export interface Session {
  principal: string;
  expiresAt: string;
  /** Always 'read': sessions carry no authority to act. */
  scope: 'read';
}

export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly options: { now: () => string; ttlMs?: number },
  ) {}

  async create(principalId: string): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.options.now();
    const expiresAt = new Date(
      Date.parse(now) + (this.options.ttlMs ?? DEFAULT_SESSION_TTL_MS),
    ).toISOString();
    await this.db.query(SESSION_SQL.insert, [hashToken(token), principalId, now, expiresAt]);
    return { token, expiresAt };
  }

  /** The session for a presented token, or null (unknown, expired, revoked, malformed). */
  async authenticate(token: string | undefined): Promise<Session | null> {
    if (!token || !TOKEN_RE.test(token)) return null;
    const { rows } = await this.db.query<{ principal_id: string; expires_at: Date | string }>(
      SESSION_SQL.lookup,
      [hashToken(token), this.options.now()],
    );
    const r = rows[0];
    if (!r) return null;
    const exp =
      r.expires_at instanceof Date ? r.expires_at.toISOString() : new Date(r.expires_at).toISOString();
    return { principal: r.principal_id, expiresAt: exp, scope: 'read' };
  }

  async revoke(token: string): Promise<void> {
    await this.db.query(SESSION_SQL.revoke, [hashToken(token), this.options.now()]);
  }

  async revokeAll(principalId: string): Promise<void> {
    await this.db.query(SESSION_SQL.revokeAllFor, [principalId, this.options.now()]);
  }

  async purgeExpired(): Promise<number> {
    return (await this.db.query(SESSION_SQL.purge, [this.options.now()])).rowCount;
  }
}
