import type { AuditLog } from '../../store/audit.ts';
import { AUDIT_SQL, checkpointFromRow, entryFromRow } from '../../store/audit-sql.ts';
import type { Queryable } from '../../store/db.ts';
import type { AuditReader } from '../http/routes/audit.ts';

/** The audit API's read side over the foundation's AuditLog tables. */
export function auditReader(db: Queryable, log: AuditLog, trustedKeys: () => string[]): AuditReader {
  return {
    async entries(afterSeq, limit) {
      const { rows } = await db.query(AUDIT_SQL.page, [afterSeq, limit]);
      return rows.map(entryFromRow);
    },
    async checkpoints() {
      const { rows } = await db.query(AUDIT_SQL.allCheckpoints);
      return rows.map(checkpointFromRow);
    },
    async verify() {
      return log.verify({ trustedKeys: trustedKeys() });
    },
  };
}
