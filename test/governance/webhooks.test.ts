import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { retryDelayMs, WebhookDispatcher } from '../../src/webhooks/dispatcher.ts';
import { WebhookOutbox } from '../../src/webhooks/outbox.ts';
import { verifyWebhookSignature, webhookSignature } from '../../src/webhooks/sign.ts';
import { storeBackends } from '../helpers/db.ts';

// PGlite start-up is slow on a loaded 2-core machine; no assertion here is about time.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
const backends = await storeBackends();
/** Each test posts to its own path, so a straggler from another test can never be counted. */
function endpoint() {
  const path = `/hook-${randomUUID()}`;
  return { url: `${base}${path}`, mine: () => received.filter((r) => r.url === path) };
}
const SECRET = 'whsec_0123456789abcdef0123456789abcdef';

interface Received {
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
const received: Received[] = [];
let failNext = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers, body });
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
      } else res.writeHead(204).end();
    });
  });
  // Long keep-alive: a socket closed by the server while the client reuses it is a (retried) failure.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('webhook signature', () => {
  it('round-trips and refuses a changed body, a stale timestamp, another secret', () => {
    const h = webhookSignature(SECRET, 1_700_000_000, '{"a":1}');
    expect(verifyWebhookSignature(SECRET, h, '{"a":1}', 1_700_000_010)).toEqual({ ok: true });
    expect(verifyWebhookSignature(SECRET, h, '{"a":2}', 1_700_000_010)).toEqual({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
    expect(verifyWebhookSignature(SECRET, h, '{"a":1}', 1_700_001_000)).toEqual({
      ok: false,
      code: 'STALE_SIGNATURE',
    });
    expect(verifyWebhookSignature(`${SECRET}x`, h, '{"a":1}', 1_700_000_010)).toEqual({
      ok: false,
      code: 'BAD_SIGNATURE',
    });
    expect(verifyWebhookSignature(SECRET, undefined, '{"a":1}', 1)).toEqual({
      ok: false,
      code: 'MISSING_SIGNATURE',
    });
  });
  it('backs off exponentially with a cap', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 1000, 5000, 0))).toEqual([1000, 2000, 4000, 5000]);
    expect(retryDelayMs(1, 1000, 5000, 0.5)).toBe(1100);
  });
});

describe.each(backends)('webhook outbox on $name', (backend) => {
  afterEach(async () => {
    received.length = 0;
    failNext = 0;
    await backend.cleanup();
  });

  it('delivers a signed body once, retries with backoff after failures, and dies after maxAttempts', async () => {
    const db = await backend.open();
    let clock = Date.parse('2026-03-01T10:00:00Z');
    const now = () => new Date(clock).toISOString();
    const outbox = new WebhookOutbox(db);
    const { url, mine } = endpoint();
    await outbox.addEndpoint({ id: 'ops', url, secret: SECRET, events: ['governance.proposed'], now: now() });
    await outbox.addEndpoint({ id: 'all', url, secret: SECRET, events: ['*'], now: now() });
    const n = await db.transaction((tx) =>
      outbox.enqueue(tx, 'governance.proposed', { digest: 'ab' }, now(), 'ev-1'),
    );
    expect(n).toBe(2);
    // A rolled-back transaction leaves nothing to send.
    await expect(
      db.transaction(async (tx) => {
        await outbox.enqueue(tx, 'governance.executed', { x: 1 }, now(), 'ev-2');
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');

    const d = new WebhookDispatcher(outbox, { now, baseDelayMs: 1000, maxAttempts: 3, random: () => 0 });
    failNext = 1;
    expect(await d.runOnce()).toEqual({ delivered: 1, failed: 1 });
    expect(mine()).toHaveLength(2);
    for (const r of mine()) {
      expect(
        verifyWebhookSignature(SECRET, r.headers['custos-signature'] as string, r.body, clock / 1000),
      ).toEqual({ ok: true });
      expect(JSON.parse(r.body)).toMatchObject({
        id: 'ev-1',
        event: 'governance.proposed',
        data: { digest: 'ab' },
      });
      expect(r.headers['custos-delivery']).toBe('ev-1');
    }
    // Not due yet: nothing is sent.
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 0 });
    clock += 1000;
    expect(await d.runOnce()).toEqual({ delivered: 1, failed: 0 });
    const rows = await outbox.list();
    expect(rows.map((r) => [r.status, r.attempts]).sort()).toEqual([
      ['delivered', 1],
      ['delivered', 2],
    ]);

    // An endpoint that always fails: retried at 1 s, 2 s, then dead.
    await db.transaction((tx) => outbox.enqueue(tx, 'governance.cancelled', {}, now(), 'ev-3'));
    failNext = 100;
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 1 });
    clock += 1000;
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 1 });
    clock += 1999;
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 0 });
    clock += 1;
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 1 });
    const dead = (await outbox.list()).find((r) => r.eventId === 'ev-3')!;
    expect(dead).toMatchObject({ status: 'dead', attempts: 3, lastStatus: 503, lastError: 'HTTP 503' });
    clock += 3_600_000;
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 0 });
  });

  it('two dispatchers never send one row twice; the polling loop delivers and stops', async () => {
    const db = await backend.open();
    const now = () => '2026-03-01T10:00:00.000Z';
    const outbox = new WebhookOutbox(db);
    const { url, mine } = endpoint();
    await outbox.addEndpoint({ id: 'one', url, secret: SECRET, events: ['*'], now: now() });
    await db.transaction(async (tx) => {
      for (let i = 0; i < 5; i++) await outbox.enqueue(tx, 'governance.voted', { i }, now(), `ev-${i}`);
    });
    const a = new WebhookDispatcher(outbox, { now });
    const b = new WebhookDispatcher(outbox, { now });
    const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
    // Every row claimed by exactly one of them (a transient socket error would be a retry, not a loss).
    expect(ra.delivered + ra.failed + rb.delivered + rb.failed).toBe(5);
    const ids = mine().map((r) => JSON.parse(r.body).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(ra.delivered + rb.delivered);
    await db.transaction((tx) => outbox.enqueue(tx, 'governance.executed', {}, now(), 'ev-loop'));
    a.start(10);
    for (let i = 0; i < 200 && !mine().some((r) => JSON.parse(r.body).id === 'ev-loop'); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await a.stop();
    server.closeIdleConnections();
    expect(mine().filter((r) => JSON.parse(r.body).id === 'ev-loop')).toHaveLength(1);
  });

  it('a network error is a retry, not a loss', async () => {
    const db = await backend.open();
    const now = () => '2026-03-01T10:00:00.000Z';
    const outbox = new WebhookOutbox(db);
    await outbox.addEndpoint({
      id: 'down',
      url: 'http://127.0.0.1:1/hook',
      secret: SECRET,
      events: ['*'],
      now: now(),
    });
    await db.transaction((tx) => outbox.enqueue(tx, 'governance.executed', { v: 2 }, now()));
    const d = new WebhookDispatcher(outbox, { now, timeoutMs: 2000 });
    expect(await d.runOnce()).toEqual({ delivered: 0, failed: 1 });
    expect((await outbox.list())[0]).toMatchObject({ status: 'pending', attempts: 1 });
  });
});
