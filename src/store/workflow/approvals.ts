import { pushTo } from '../../core/collections.ts';
import type { Db, Queryable } from '../db.ts';

export interface StoredApproval {
  principal: string;
  credentialId: string;
  decision: 'approve' | 'reject';
  approval: unknown;
  receivedAt: Date;
}

/** Approver decisions as received (already verified once; co-signers verify again). */
export class ApprovalStore {
  constructor(private readonly db: Db) {}

  /** Adds a decision; false when this principal already decided on this intent. */
  async add(
    intentId: string,
    a: Omit<StoredApproval, 'receivedAt'>,
    now: Date,
    q: Queryable = this.db,
  ): Promise<boolean> {
    const r = await q.query(
      `INSERT INTO wf_approvals (intent_id, principal, credential_id, decision, approval, received_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT DO NOTHING`,
      [intentId, a.principal, a.credentialId, a.decision, JSON.stringify(a.approval), now.toISOString()],
    );
    return r.rowCount === 1;
  }

  async list(intentId: string, q: Queryable = this.db): Promise<StoredApproval[]> {
    return (await this.listMany([intentId], q)).get(intentId) ?? [];
  }

  /** The decisions on many intents in one query, each list in arrival order. */
  async listMany(
    intentIds: readonly string[],
    q: Queryable = this.db,
  ): Promise<Map<string, StoredApproval[]>> {
    const out = new Map<string, StoredApproval[]>();
    if (intentIds.length === 0) return out;
    const { rows } = await q.query<{
      intent_id: string;
      principal: string;
      credential_id: string;
      decision: 'approve' | 'reject';
      approval: unknown;
      received_at: Date | string;
    }>('SELECT * FROM wf_approvals WHERE intent_id = ANY($1::uuid[]) ORDER BY received_at, principal', [
      intentIds,
    ]);
    for (const r of rows) {
      pushTo(out, r.intent_id, {
        principal: r.principal,
        credentialId: r.credential_id,
        decision: r.decision,
        approval: r.approval,
        receivedAt: r.received_at instanceof Date ? r.received_at : new Date(r.received_at),
      });
    }
    return out;
  }
}
