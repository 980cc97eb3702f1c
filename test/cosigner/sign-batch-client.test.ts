import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpCosigner, type SignOutcome } from '../../src/coordinator/cosigner-client.ts';
import { ed25519PrivateKey } from '../../src/core/auth/index.ts';
import { ledgerCount } from '../../src/cosigner/ledger.ts';
import { storeBackends } from '../helpers/db.ts';
import { batchHarness, idOf, item } from './batch-fixture.ts';
import { COORDINATOR_KEY_ID, coordinatorKey, type Harness, OTHER_DEST } from './fixture.ts';

const backends = await storeBackends();

/** Client `signMany` against a real co-signer server listening on a port (real HTTP, real pipeline). */
describe.each(backends)('HttpCosigner.signMany on $name', (backend) => {
  const servers: Harness[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((h) => h.app.close()));
    await backend.cleanup();
  });
  const open = async () => {
    const h = await batchHarness(backend);
    servers.push(h);
    const url = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const client = (over: { url?: string; key?: typeof coordinatorKey } = {}) =>
      new HttpCosigner({
        id: 'cosigner-a',
        url: over.url ?? url,
        key: { keyId: COORDINATOR_KEY_ID, privateKey: over.key ?? coordinatorKey },
        now: () => h.clock.now,
      });
    return { h, url, client };
  };
  const kinds = (o: SignOutcome[]) => o.map((x) => (x.kind === 'signed' ? 'signed' : `${x.kind}:${x.code}`));
  const requestsSeen = async (h: Harness) =>
    Number(
      (await h.deps.db.query<{ n: string | number }>('SELECT count(*) AS n FROM cosigner_request_nonces'))
        .rows[0]!.n,
    );

  it('maps each item like sign: signed, refused (final) and unavailable (transient) side by side', async () => {
    const { h, client } = await open();
    const out = await client().signMany([item(1), item(2, { to: OTHER_DEST }), item(3)]);
    expect(kinds(out)).toEqual(['signed', expect.stringMatching(/^refused:.*DESTINATION/), 'signed']);
    expect(out[0]).toMatchObject({ kind: 'signed', response: { intentId: idOf(1), repeated: false } });
    expect(out[1]).toMatchObject({ kind: 'refused', step: 'chain' });
    // Fault before commit: nothing signed; the passing items are INTERNAL → 'unavailable' (retry).
    h.deps.fault = async (p) => {
      if (p === 'before-commit') throw new Error('crash');
    };
    const failed = await client().signMany([item(4), item(5, { to: OTHER_DEST })]);
    expect(kinds(failed)).toEqual(['unavailable:INTERNAL', expect.stringMatching(/^refused:/)]);
    h.deps.fault = undefined;
    // Same answers as `sign` gives for the same requests one by one.
    const single = await client().sign(item(1));
    expect(single).toMatchObject({ kind: 'signed', response: { repeated: true } });
    expect((single as { response: unknown }).response).toEqual({
      ...(out[0] as { response: object }).response,
      repeated: true,
    });
  });

  it('more than 64 requests are split into several calls, in order', async () => {
    const { h, client } = await open();
    const many = Array.from({ length: 66 }, (_, n) => item(n + 1, { amount: 10n ** 15n }));
    const out = await client().signMany(many);
    expect(out.every((o) => o.kind === 'signed')).toBe(true);
    expect(out.map((o) => (o.kind === 'signed' ? o.response.intentId : ''))).toEqual(
      many.map((r) => (r.intent as { id: string }).id),
    );
    expect(await ledgerCount(h.deps.db)).toBe(66);
    expect(await requestsSeen(h)).toBe(2);
    expect(await client().signMany([])).toEqual([]);
  });

  it('whole-request failures make every item unavailable: unreachable, auth refused', async () => {
    const { h, client } = await open();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = await client({ url: deadUrl }).signMany([item(1), item(2)]);
    expect(kinds(unreachable)).toEqual([
      'unavailable:COSIGNER_UNREACHABLE',
      'unavailable:COSIGNER_UNREACHABLE',
    ]);
    const wrongKey = await client({ key: ed25519PrivateKey(new Uint8Array(32).fill(7)) }).signMany([
      item(1),
      item(2),
    ]);
    expect(kinds(wrongKey)).toEqual(['unavailable:AUTH_BAD_SIGNATURE', 'unavailable:AUTH_BAD_SIGNATURE']);
    expect(await ledgerCount(h.deps.db)).toBe(0);
  });

  it('attack: a proxy that reorders the results — a signature for another intent is never taken', async () => {
    const { h, url, client } = await open();
    // A man-in-the-middle (or buggy proxy) returning the co-signer's genuine results in another order.
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
      ) as Record<string, string>;
      const upstream = await fetch(new URL(req.url ?? '/', url), {
        method: req.method,
        headers,
        body: Buffer.concat(chunks),
      });
      const json = (await upstream.json()) as { results?: unknown[] };
      json.results?.reverse();
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const out = await client({ url: proxyUrl }).signMany([item(1), item(2)]);
      expect(kinds(out)).toEqual(['unavailable:COSIGNER_BAD_RESPONSE', 'unavailable:COSIGNER_BAD_RESPONSE']);
      // The co-signer did sign both (its ledger says so); asked directly, the client gets them.
      expect(await ledgerCount(h.deps.db)).toBe(2);
      const direct = await client().signMany([item(1), item(2)]);
      expect(kinds(direct)).toEqual(['signed', 'signed']);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
