import type { Db, Queryable } from '../db.ts';

/**
 * Idempotency-Key records. The first request with a (principal, key) claims it; a retry with the
 * same request hash gets the stored response, byte for byte; the same key with a different
 * request is a conflict (the client has a bug or someone replays a key with new content). A
 * record whose first request never finished (process died) can be retaken after its lease, so a
 * crash does not lock the key forever; the intent's own id/digest uniqueness still prevents a
 * second withdrawal in that case (I8).
 */
export type IdempotencyBegin =
  | { kind: 'new' }
  | { kind: 'replay'; statusCode: number; response: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_flight' };

interface Row {
  request_hash: string;
  method: string;
  path: string;
  status_code: number | null;
  response: unknown;
  lease_until: Date | string;
}

/** Claims (principal, key) for a new request; a no-op (rowCount 0) when the key is already taken. */
const CLAIM_KEY = `INSERT INTO idempotency_keys (principal, key, method, path, request_hash, lease_until, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (principal, key) DO NOTHING`;

export class IdempotencyStore {
  constructor(private readonly db: Db) {}

  async begin(input: {
    principal: string;
    key: string;
    method: string;
    path: string;
    requestHash: string;
    now: Date;
    leaseMs: number;
  }): Promise<IdempotencyBegin> {
    const leaseUntil = new Date(input.now.getTime() + input.leaseMs).toISOString();
    const params = [
      input.principal,
      input.key,
      input.method,
      input.path,
      input.requestHash,
      leaseUntil,
      input.now.toISOString(),
    ];
    // Common case, one round trip: a new key.
    const first = await this.db.query(CLAIM_KEY, params);
    if (first.rowCount === 1) return { kind: 'new' };
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(CLAIM_KEY, params);
      if (inserted.rowCount === 1) return { kind: 'new' };
      const { rows } = await tx.query<Row>(
        'SELECT * FROM idempotency_keys WHERE principal = $1 AND key = $2 FOR UPDATE',
        [input.principal, input.key],
      );
      const row = rows[0]!;
      if (row.request_hash !== input.requestHash || row.method !== input.method || row.path !== input.path) {
        return { kind: 'mismatch' };
      }
      if (row.status_code !== null) {
        return { kind: 'replay', statusCode: Number(row.status_code), response: row.response };
      }
      const lease = row.lease_until instanceof Date ? row.lease_until : new Date(row.lease_until);
      if (lease.getTime() > input.now.getTime()) return { kind: 'in_flight' };
      await tx.query('UPDATE idempotency_keys SET lease_until = $3 WHERE principal = $1 AND key = $2', [
        input.principal,
        input.key,
        leaseUntil,
      ]);
      return { kind: 'new' };
    });
  }

  /** Stores the response of the first request (in the caller's transaction when `q` is one). */
  async finish(
    principal: string,
    key: string,
    statusCode: number,
    response: unknown,
    q: Queryable = this.db,
  ): Promise<void> {
    await q.query(
      'UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb WHERE principal = $1 AND key = $2',
      [principal, key, statusCode, JSON.stringify(response)],
    );
  }

  /** Releases a key whose request failed transiently (5xx), so a retry runs it again. */
  async release(principal: string, key: string): Promise<void> {
    await this.db.query(
      'DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status_code IS NULL',
      [principal, key],
    );
  }
}
