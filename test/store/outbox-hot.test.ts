import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { OutboxBatch } from '../../src/store/workflow/outbox.ts';
import { postgresAvailable, postgresBackend } from '../helpers/db.ts';

/**
 * Settling an outbox entry (status, result) must not rewrite its ~1 kB content on another page
 * with a new index entry (migration 0504: room on each page makes it a HOT update). Counted by
 * PostgreSQL itself for the current transaction (pg_stat_get_xact_*), so no statistics delay.
 */
describe.runIf(await postgresAvailable())('outbox settles are HOT updates (PostgreSQL)', () => {
  const backend = postgresBackend();
  afterAll(() => backend.cleanup());

  it('most settles of freshly recorded ~1 kB entries stay on their page', async () => {
    const db = await backend.open();
    const outbox = new OutboxBatch(db);
    const now = new Date();
    const ids = Array.from({ length: 60 }, () => randomUUID());
    const counts = await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO wf_intents (id, digest, intent_json, signature, requested_by, wallet, chain, state,
           expires_at, created_at, updated_at)
         SELECT id, id::text, '{}', '{}'::jsonb, 'r', 'w', 'c', 'signing', $2, $2, $2 FROM unnest($1::uuid[]) AS id`,
        [ids, now.toISOString()],
      );
      // A signature request's size: the unsigned Safe transaction and its context.
      const content = (id: string) => ({ intentId: id, safeTx: 'ab'.repeat(450), note: 'request' });
      const recorded = await outbox.recordMany(
        ids.map((id) => ({ intentId: id, step: 'sign:a', content: content(id) })),
        now,
        { q: tx },
      );
      expect(recorded.every((r) => r.ok)).toBe(true);
      await outbox.settleMany(
        ids.map((id) => ({ intentId: id, step: 'sign:a', status: 'done' as const, result: { sig: '0x01' } })),
        now,
        tx,
      );
      const { rows } = await tx.query<{ upd: string; hot: string }>(
        `SELECT pg_stat_get_xact_tuples_updated('wf_outbox'::regclass) AS upd,
                pg_stat_get_xact_tuples_hot_updated('wf_outbox'::regclass) AS hot`,
      );
      return { upd: Number(rows[0]!.upd), hot: Number(rows[0]!.hot) };
    });
    expect(counts.upd).toBe(60);
    // Full pages (fillfactor 100) leave room only on the last page: a handful at most.
    expect(counts.hot).toBeGreaterThanOrEqual(24);
  });
});
