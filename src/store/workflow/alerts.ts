import type { Db, Queryable } from '../db.ts';

export interface Alert {
  id: string;
  severity: 'info' | 'warning' | 'critical';
  code: string;
  subject: string;
  message: string;
  details: Record<string, unknown>;
  raisedAt: Date;
  ackedAt: Date | null;
  ackedBy: string | null;
}

interface Row {
  id: string | number;
  severity: Alert['severity'];
  code: string;
  subject: string;
  message: string;
  details: Record<string, unknown>;
  raised_at: Date | string;
  acked_at: Date | string | null;
  acked_by: string | null;
}

const d = (v: Date | string) => (v instanceof Date ? v : new Date(v));

/** Alerts raised by the workflow (co-signer refusals, failures) and the watchtower. */
export class AlertStore {
  constructor(private readonly db: Db) {}

  async raise(
    a: Omit<Alert, 'id' | 'raisedAt' | 'ackedAt' | 'ackedBy'>,
    now: Date,
    q: Queryable = this.db,
  ): Promise<string> {
    const { rows } = await q.query<{ id: string }>(
      `INSERT INTO wf_alerts (severity, code, subject, message, details, raised_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING id`,
      [a.severity, a.code, a.subject, a.message, JSON.stringify(a.details), now.toISOString()],
    );
    return String(rows[0]!.id);
  }

  /** Newest first; `before` is the id cursor. */
  async list(opts: {
    limit: number;
    before?: string;
    subject?: string;
  }): Promise<{ items: Alert[]; next?: string }> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM wf_alerts
       WHERE ($1::bigint IS NULL OR id < $1::bigint) AND ($2::text IS NULL OR subject = $2)
       ORDER BY id DESC LIMIT $3`,
      [opts.before ?? null, opts.subject ?? null, opts.limit + 1],
    );
    const items = rows.slice(0, opts.limit).map((r) => ({
      id: String(r.id),
      severity: r.severity,
      code: r.code,
      subject: r.subject,
      message: r.message,
      details: r.details,
      raisedAt: d(r.raised_at),
      ackedAt: r.acked_at === null ? null : d(r.acked_at),
      ackedBy: r.acked_by,
    }));
    return rows.length > opts.limit ? { items, next: items[items.length - 1]!.id } : { items };
  }
}
