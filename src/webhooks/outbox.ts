import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../core/encoding/canonical-json.ts';
import { InvalidInputError } from '../core/errors/base.ts';
import type { Db, Queryable } from '../store/db.ts';

/**
 * Durable webhook outbox (SQL kept here, every value bound). Events are enqueued in the caller's
 * transaction, next to the state change they announce, so an announcement is never lost when the
 * process dies and never sent for a change that rolled back.
 */
export const WEBHOOK_SQL = {
  addEndpoint: `INSERT INTO webhook_endpoints (id, url, secret, events, active, created_at)
                VALUES ($1, $2, $3, $4::jsonb, true, $5::timestamptz)`,
  disableEndpoint: `UPDATE webhook_endpoints SET active = false WHERE id = $1`,
  upsertEndpoint: `INSERT INTO webhook_endpoints (id, url, secret, events, active, created_at)
                   VALUES ($1, $2, $3, $4::jsonb, true, $5::timestamptz)
                   ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret,
                     events = EXCLUDED.events, active = true`,
  disableOthers: `UPDATE webhook_endpoints SET active = false WHERE active
                    AND id NOT IN (SELECT jsonb_array_elements_text($1::jsonb))`,
  activeEndpoints: `SELECT id, events FROM webhook_endpoints WHERE active ORDER BY id`,
  enqueue: `INSERT INTO webhook_outbox (endpoint_id, event_id, event, body, status, next_attempt_at, created_at)
            VALUES ($1, $2, $3, $4, 'pending', $5::timestamptz, $5::timestamptz)
            ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
  // Lease due rows so two dispatchers (two coordinators) never send the same row at once.
  claim: `UPDATE webhook_outbox o SET locked_until = $2::timestamptz + ($3::integer * interval '1 millisecond')
          FROM webhook_endpoints e
          WHERE o.id IN (
            SELECT id FROM webhook_outbox
             WHERE status = 'pending' AND next_attempt_at <= $2::timestamptz
               AND (locked_until IS NULL OR locked_until <= $2::timestamptz)
             ORDER BY next_attempt_at, id
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
            AND e.id = o.endpoint_id
          RETURNING o.id, o.endpoint_id, o.event_id, o.event, o.body, o.attempts, e.url, e.secret`,
  delivered: `UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $2::timestamptz,
                last_status = $3, last_error = NULL, locked_until = NULL WHERE id = $1`,
  failed: `UPDATE webhook_outbox SET status = $2, attempts = attempts + 1, next_attempt_at = $3::timestamptz,
             last_status = $4, last_error = $5, locked_until = NULL WHERE id = $1`,
  list: `SELECT id, endpoint_id, event_id, event, body, status, attempts, last_status, last_error
           FROM webhook_outbox ORDER BY id`,
} as const;

export interface OutboxRow {
  id: string;
  endpointId: string;
  eventId: string;
  event: string;
  body: string;
  attempts: number;
  url: string;
  secret: string;
}

const EVENT_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

export interface EndpointInput {
  id: string;
  url: string;
  secret: string;
  events: string[];
  now: string;
}

function checkEndpoint(e: EndpointInput): void {
  let u: URL;
  try {
    u = new URL(e.url);
  } catch {
    throw new InvalidInputError('INVALID_URL', 'url', 'webhook URL is not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new InvalidInputError('INVALID_URL', 'url', 'webhook URL must be http(s)');
  }
  if (e.secret.length < 32)
    throw new InvalidInputError('WEAK_SECRET', 'secret', 'webhook secret must be ≥ 32 characters');
}

export class WebhookOutbox {
  constructor(private readonly db: Db) {}

  async addEndpoint(e: EndpointInput): Promise<void> {
    checkEndpoint(e);
    await this.db.query(WEBHOOK_SQL.addEndpoint, [e.id, e.url, e.secret, JSON.stringify(e.events), e.now]);
  }

  /**
   * Makes the active endpoints exactly `endpoints` (a configuration file is the source of truth):
   * each is inserted or updated (URL, secret, events) and re-activated; every other endpoint is
   * deactivated, so an endpoint removed from the configuration stops receiving events. One
   * transaction: a reader never sees a half-applied set.
   */
  async syncEndpoints(endpoints: Omit<EndpointInput, 'now'>[], now: string): Promise<void> {
    for (const e of endpoints) checkEndpoint({ ...e, now });
    await this.db.transaction(async (tx) => {
      for (const e of endpoints)
        await tx.query(WEBHOOK_SQL.upsertEndpoint, [e.id, e.url, e.secret, JSON.stringify(e.events), now]);
      await tx.query(WEBHOOK_SQL.disableOthers, [JSON.stringify(endpoints.map((e) => e.id))]);
    });
  }

  /**
   * Enqueues `event` for every active endpoint subscribed to it, inside `tx`. The body is the
   * canonical JSON `{id, event, createdAt, data}`; `id` lets receivers drop duplicates (delivery
   * is at-least-once).
   */
  async enqueue(
    tx: Queryable,
    event: string,
    data: unknown,
    now: string,
    eventId: string = randomUUID(),
  ): Promise<number> {
    if (!EVENT_RE.test(event))
      throw new InvalidInputError('INVALID_EVENT', 'event', 'event names are dotted lower-case');
    const body = canonicalJson({ id: eventId, event, createdAt: now, data });
    const { rows } = await tx.query<{ id: string; events: string[] | string }>(WEBHOOK_SQL.activeEndpoints);
    let n = 0;
    for (const r of rows) {
      const events = typeof r.events === 'string' ? (JSON.parse(r.events) as string[]) : r.events;
      if (!events.includes('*') && !events.includes(event)) continue;
      await tx.query(WEBHOOK_SQL.enqueue, [r.id, eventId, event, body, now]);
      n++;
    }
    return n;
  }

  async claim(limit: number, now: string, leaseMs: number): Promise<OutboxRow[]> {
    const { rows } = await this.db.query<Record<string, unknown>>(WEBHOOK_SQL.claim, [limit, now, leaseMs]);
    return rows.map((r) => ({
      id: String(r.id),
      endpointId: String(r.endpoint_id),
      eventId: String(r.event_id),
      event: String(r.event),
      body: String(r.body),
      attempts: Number(r.attempts),
      url: String(r.url),
      secret: String(r.secret),
    }));
  }

  async markDelivered(id: string, now: string, status: number): Promise<void> {
    await this.db.query(WEBHOOK_SQL.delivered, [id, now, status]);
  }

  async markFailed(
    id: string,
    outcome: { dead: boolean; nextAttemptAt: string; status: number | null; error: string },
  ): Promise<void> {
    await this.db.query(WEBHOOK_SQL.failed, [
      id,
      outcome.dead ? 'dead' : 'pending',
      outcome.nextAttemptAt,
      outcome.status,
      outcome.error.slice(0, 1000),
    ]);
  }

  async list(): Promise<
    {
      id: string;
      eventId: string;
      event: string;
      status: string;
      attempts: number;
      lastStatus: number | null;
      lastError: string | null;
    }[]
  > {
    const { rows } = await this.db.query<Record<string, unknown>>(WEBHOOK_SQL.list);
    return rows.map((r) => ({
      id: String(r.id),
      eventId: String(r.event_id),
      event: String(r.event),
      status: String(r.status),
      attempts: Number(r.attempts),
      lastStatus: r.last_status === null ? null : Number(r.last_status),
      lastError: r.last_error === null ? null : String(r.last_error),
    }));
  }
}
