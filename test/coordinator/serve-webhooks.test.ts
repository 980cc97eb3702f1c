import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseCoordinatorConfig } from '../../src/coordinator/config.ts';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.ts';
import type { EvmAlert } from '../../src/core/chains/evm/index.ts';
import { WebhookOutbox } from '../../src/webhooks/outbox.ts';
import { verifyWebhookSignature } from '../../src/webhooks/sign.ts';
import { storeBackends } from '../helpers/db.ts';

vi.setConfig({ testTimeout: 120_000 });

const SECRET = 'w'.repeat(40);

const alert: EvmAlert = {
  severity: 'critical',
  code: 'UNMATCHED_OUTFLOW',
  chain: 'eip155:31337',
  wallet: 'safe-1',
  txHash: `0x${'ab'.repeat(32)}`,
  block: { number: 42n, hash: `0x${'cd'.repeat(32)}` },
  details: { kind: 'transaction', value: 10n ** 18n, nonce: 7n },
};

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

describe('custos serve: webhooks from the configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-serve-webhooks-'));
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  let running: RunningCoordinator | undefined;
  afterAll(async () => {
    await running?.close();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers a watchtower alert to the configured endpoint with a valid HMAC signature', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const admin = bytesToHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const yaml = `version: 1
listen: { host: 127.0.0.1, port: 0 }
database: { pgliteDir: db }
genesis: { adminKeys: ["${admin}"], quorum: 1 }
requestKey: { keyId: coordinator-1, seed: { env: TEST_SEED } }
webhooks:
  pollMs: 50
  endpoints:
    - id: soc
      url: http://127.0.0.1:${port}/hook
      secret: { env: TEST_WEBHOOK_SECRET }
      events: [alert.raised]
log: { level: silent }
`;
    const cfg = parseCoordinatorConfig(yaml, join(dir, 'custos.yaml'));
    running = await startCoordinator(cfg, {
      env: { TEST_SEED: '11'.repeat(32), TEST_WEBHOOK_SECRET: SECRET },
      port: 0,
    });

    const id = await running.coordinator.raiseEvmAlert(alert);
    for (let i = 0; i < 400 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));

    expect(received).toHaveLength(1);
    const [hit] = received;
    expect(hit!.headers['custos-event']).toBe('alert.raised');
    expect(hit!.headers['custos-delivery']).toBe(`alert-${id}`);
    const nowUnix = Math.floor(Date.now() / 1000);
    expect(
      verifyWebhookSignature(SECRET, hit!.headers['custos-signature'] as string, hit!.body, nowUnix),
    ).toEqual({
      ok: true,
    });
    // a different secret (a forger without it) does not verify
    expect(
      verifyWebhookSignature('x'.repeat(40), hit!.headers['custos-signature'] as string, hit!.body, nowUnix),
    ).toEqual({ ok: false, code: 'BAD_SIGNATURE' });
    expect(JSON.parse(hit!.body)).toMatchObject({
      id: `alert-${id}`,
      event: 'alert.raised',
      data: { code: 'UNMATCHED_OUTFLOW', severity: 'critical' },
    });
  });
});

const backends = await storeBackends();
describe.each(backends)('webhook endpoints from the configuration on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('upserts the listed endpoints and deactivates the others', async () => {
    const db = await backend.open();
    const outbox = new WebhookOutbox(db);
    const now = '2026-11-25T10:00:00.000Z';
    await outbox.addEndpoint({ id: 'old', url: 'https://old.example/h', secret: SECRET, events: ['*'], now });
    await outbox.syncEndpoints(
      [{ id: 'soc', url: 'https://soc.example/h', secret: SECRET, events: ['*'] }],
      now,
    );
    // re-applying (a restart) with a new URL updates in place
    await outbox.syncEndpoints(
      [{ id: 'soc', url: 'https://soc2.example/h', secret: SECRET, events: ['*'] }],
      now,
    );
    await db.transaction((tx) => outbox.enqueue(tx, 'alert.raised', { n: 1 }, now, 'e1'));
    const rows = await outbox.claim(10, now, 1000);
    expect(rows.map((r) => [r.endpointId, r.url])).toEqual([['soc', 'https://soc2.example/h']]);
    await expect(
      outbox.syncEndpoints([{ id: 'weak', url: 'https://w.example/h', secret: 'short', events: ['*'] }], now),
    ).rejects.toMatchObject({ code: 'WEAK_SECRET' });
  });
});
