import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../../src/store/db.ts';
import { pgliteBackend } from '../../helpers/db.ts';
import { type Fixture, fixture, idem, keys, makeIntent, submitBody } from '../helpers/fixture.ts';

vi.setConfig({ testTimeout: 120_000 });

/** The API's log lines (pino JSON), captured in memory with the redaction `custos serve` uses. */
function capture(level: 'info' | 'debug') {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = pino(
    {
      level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers["custos-signature"]', '*.seed', '*.token'],
        remove: true,
      },
    },
    stream,
  );
  // A line is written when the response has finished (Fastify's onResponse), possibly just after
  // inject() resolved: let that callback run first.
  const parsed = async () => {
    await new Promise((r) => setImmediate(r));
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { logger, lines, parsed };
}

const SESSION = 'session-token-that-must-never-be-logged';
const backend = pgliteBackend();
let db: Db;

beforeAll(async () => {
  db = await backend.open();
});
afterAll(() => backend.cleanup());

async function app(level: 'info' | 'debug'): Promise<Fixture & ReturnType<typeof capture>> {
  const log = capture(level);
  const f = await fixture(db, {
    logger: log.logger,
    http: { readTokens: new Map([[SESSION, 'ops-alice']]) },
  });
  return { ...f, ...log };
}

const completed = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'request completed');

describe('API access log', () => {
  it('at info: a successful submit writes no line; every refusal writes one with status and code', async () => {
    const { c, parsed, lines } = await app('info');
    const post = (payload: string, headers: Record<string, string>) =>
      c.app.inject({
        method: 'POST',
        url: '/v1/intents',
        headers: { 'content-type': 'application/json', ...headers },
        payload,
      });
    const ok = await post(JSON.stringify(submitBody(makeIntent())), idem());
    expect(ok.statusCode).toBe(201);
    expect(await parsed()).toEqual([]);

    // A forged requester signature (another principal's key).
    const forged = await post(JSON.stringify(submitBody(makeIntent(), keys.alice)), idem());
    expect(forged.statusCode).toBe(401);
    // A duplicate key in the body (the same bytes could mean two withdrawals).
    const body = JSON.stringify(submitBody(makeIntent()));
    const dup = await post(`${body.slice(0, -1)},"signature":{}}`, idem());
    expect(dup.statusCode).toBe(400);
    expect(dup.json().code).toBe('DUPLICATE_KEY');
    // An unknown session token.
    const bad = await c.app.inject({
      method: 'GET',
      url: '/v1/intents',
      headers: { authorization: `Bearer ${SESSION}-forged` },
    });
    expect(bad.statusCode).toBe(401);

    const got = completed(await parsed());
    expect(got).toHaveLength(3);
    expect(got.map((l) => [(l.res as { statusCode: number }).statusCode, l.code, l.level])).toEqual([
      [401, forged.json().code, 30],
      [400, 'DUPLICATE_KEY', 30],
      [401, 'INVALID_SESSION', 30],
    ]);
    for (const l of got) {
      expect(l.req).toMatchObject({
        method: expect.any(String),
        url: expect.stringMatching(/^\/v1\/intents/),
      });
      expect(l.responseTime).toEqual(expect.any(Number));
    }
    // Secrets never reach the log: no session token, no signature bytes.
    const text = lines.join('\n');
    expect(text).not.toContain(SESSION);
    expect(text).not.toContain(JSON.parse(body).signature.signature);
    await c.close();
  });

  it('an idempotent replay of a refusal is logged with the stored code', async () => {
    const { c, parsed } = await app('info');
    const headers = { 'content-type': 'application/json', ...idem() };
    const payload = JSON.stringify(submitBody(makeIntent({ wallet: 'no-such-wallet' })));
    const first = await c.app.inject({ method: 'POST', url: '/v1/intents', headers, payload });
    expect(first.statusCode).toBe(422);
    const again = await c.app.inject({ method: 'POST', url: '/v1/intents', headers, payload });
    expect(again.statusCode).toBe(422);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(completed(await parsed()).map((l) => l.code)).toEqual(['UNKNOWN_WALLET', 'UNKNOWN_WALLET']);
    await c.close();
  });

  it('at debug: the full access log (incoming and completed) for successful requests too', async () => {
    const { c, parsed } = await app('debug');
    const r = await c.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: { 'content-type': 'application/json', ...idem() },
      payload: JSON.stringify(submitBody(makeIntent())),
    });
    expect(r.statusCode).toBe(201);
    const all = await parsed();
    expect(all.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(all[0]!.req).toMatchObject({ method: 'POST', url: '/v1/intents' });
    expect(all[1]).toMatchObject({ level: 20, res: { statusCode: 201 } });
    await c.close();
  });
});
