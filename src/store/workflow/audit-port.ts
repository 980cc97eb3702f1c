import type { Queryable } from '../db.ts';

/**
 * What the workflow needs from the audit log: append entries inside the caller's transaction, so
 * a state change and its audit entry commit together or not at all (I5 + I6). The foundation's
 * `AuditLog` (src/store/audit*) implements it; the workflow depends only on this port.
 */
export interface AuditEntryInput {
  kind: string;
  actor: string;
  subject: string;
  body: Record<string, unknown>;
}

export interface AuditAppender {
  appendInTx(tx: Queryable, entries: AuditEntryInput[]): Promise<unknown>;
  /**
   * Same atomicity without the append lock: the entries are chained into the log shortly after
   * commit by the log's sealer. The workflow's transitions use it when the log offers it.
   */
  stageInTx?(tx: Queryable, entries: AuditEntryInput[]): Promise<unknown>;
}
