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
  /**
   * For a caller that folds the staging into its own single statement (one round trip for a whole
   * state change): the validated rows to insert into `audit_inbox` (columns as in migration 0003,
   * body already RFC 8785 canonical). Call {@link staged} once that statement has run.
   */
  stageRows?(entries: AuditEntryInput[]): StagedAuditRows;
  /** Tells the log that rows from {@link stageRows} were written (wakes its sealer). */
  staged?(): void;
}

/** Column arrays for `INSERT INTO audit_inbox (kind, actor, subject, body) SELECT * FROM unnest(…)`. */
export interface StagedAuditRows {
  kind: string[];
  actor: string[];
  subject: string[];
  body: string[];
}
