import type { Db, Queryable } from '../../../src/store/db.ts';
import type { AuditAppender, AuditEntryInput } from '../../../src/store/workflow/audit-port.ts';

/**
 * TEST DOUBLE (named as such): an AuditAppender that writes plain rows into its own table inside
 * the caller's transaction, so tests can check that a transition and its audit entry commit or
 * roll back together. The production appender is the foundation's hash-chained AuditLog.
 */
export async function auditDouble(
  db: Db,
): Promise<AuditAppender & { entries(): Promise<AuditEntryInput[]> }> {
  await db.exec(`CREATE TABLE IF NOT EXISTS test_audit_double (
    n bigserial PRIMARY KEY, kind text NOT NULL, actor text NOT NULL, subject text NOT NULL, body jsonb NOT NULL)`);
  return {
    async appendInTx(tx: Queryable, entries: AuditEntryInput[]) {
      for (const e of entries) {
        await tx.query(
          'INSERT INTO test_audit_double (kind, actor, subject, body) VALUES ($1, $2, $3, $4::jsonb)',
          [e.kind, e.actor, e.subject, JSON.stringify(e.body)],
        );
      }
    },
    async entries() {
      const { rows } = await db.query<AuditEntryInput>(
        'SELECT kind, actor, subject, body FROM test_audit_double ORDER BY n',
      );
      return rows;
    },
  };
}
