import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { openDb } from '../../src/store/open.ts';
import { dropSchema } from '../../src/store/postgres.ts';
import { requirement } from '../helpers/require.ts';
import { fixture, idem, makeIntent, submitBody } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 120_000 });

/** The local server's Unix socket directory (Debian's default; CUSTOS_PGSOCKET overrides). */
const SOCKET_DIR = process.env.CUSTOS_PGSOCKET ?? '/var/run/postgresql';
const SOCKET_URL = `postgres://postgres@/test?host=${encodeURIComponent(SOCKET_DIR)}`;
const available = requirement(
  `PostgreSQL Unix socket in ${SOCKET_DIR}`,
  existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`),
  'apt-get install postgresql && pg_ctlcluster 15 main start (or set CUSTOS_PGSOCKET)',
);

describe.runIf(available)('coordinator on PostgreSQL over its Unix socket', () => {
  it('opens, migrates and serves a submission over the socket (no TCP), with a configured pool size', async () => {
    const schema = `t_sock_${randomBytes(4).toString('hex')}`;
    const db = await openDb({ databaseUrl: SOCKET_URL, schema, poolSize: 2 });
    try {
      // A Unix-socket connection has no server address.
      const { rows } = await db.query<{ addr: string | null }>('SELECT inet_server_addr()::text AS addr');
      expect(rows[0]!.addr).toBeNull();
      const { c } = await fixture(db);
      const intent = makeIntent();
      const r = await c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: idem(),
        payload: submitBody(intent),
      });
      expect(r.statusCode).toBe(201);
      const stored = await db.query<{ n: string }>('SELECT count(*) AS n FROM wf_intents WHERE id = $1', [
        intent.id,
      ]);
      expect(Number(stored.rows[0]!.n)).toBe(1);
      await c.close();
    } finally {
      await db.close();
      await dropSchema(SOCKET_URL, schema);
    }
  });
});
