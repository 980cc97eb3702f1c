import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildSignBatchHttpRequest,
  type Refusal,
  type SignRequest,
  type SignResponse,
  signRequest,
} from '../../src/core/auth/index.ts';
import { ledgerCount } from '../../src/cosigner/ledger.ts';
import { unauthenticatedRefusals } from '../../src/cosigner/pipeline.ts';
import { verifyRefusalLog } from '../../src/cosigner/refusal-log.ts';
import { storeBackends } from '../helpers/db.ts';
import { batchHarness, idOf, item } from './batch-fixture.ts';
import { COORDINATOR_KEY_ID, coordinatorKey, DEST, type Harness, OTHER_DEST } from './fixture.ts';

const backends = await storeBackends();

type BatchJson = { ok: boolean; code?: string; results: (SignResponse | Refusal)[] };

async function sendBatch(
  h: Harness,
  items: SignRequest[],
  mutate?: (r: { headers: Record<string, string>; body: string }) => void,
) {
  const http = buildSignBatchHttpRequest(
    { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
    'cosigner-a',
    items,
    { timestampMs: h.clock.now, nonce: randomBytes(16) },
  );
  const raw = { headers: http.headers, body: http.body };
  mutate?.(raw);
  return { ...(await inject(h, raw)), raw };
}

async function inject(h: Harness, raw: { headers: Record<string, string>; body: string }) {
  const r = await h.app.inject({
    method: 'POST',
    url: '/v1/sign-batch',
    headers: raw.headers,
    payload: raw.body,
  });
  return { status: r.statusCode, json: r.json() as BatchJson };
}

describe.each(backends)('co-signer /v1/sign-batch on $name', (backend) => {
  afterAll(() => backend.cleanup());
  const open = () => batchHarness(backend);
  const codes = (j: BatchJson) =>
    j.results.map((r) => (r.ok ? (r.repeated ? 'repeated' : 'signed') : r.code));

  it('signs every item in one request; one ledger row each; results in order', async () => {
    const h = await open();
    const r = await sendBatch(h, [item(1), item(2), item(3)]);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(codes(r.json)).toEqual(['signed', 'signed', 'signed']);
    expect(r.json.results.map((x) => (x as SignResponse).intentId)).toEqual([idOf(1), idOf(2), idOf(3)]);
    expect(await ledgerCount(h.deps.db)).toBe(3);
    // The same intent alone on /v1/sign now gets the batch's stored signature back.
    const single = await h.send(item(2));
    expect(single.json).toMatchObject({ repeated: true, result: (r.json.results[1] as SignResponse).result });
  });

  it('attack: one tampered item (destination swapped, amount changed) is refused alone; the others sign', async () => {
    const h = await open();
    const swapped = item(2, { to: OTHER_DEST });
    const bumped = { ...item(3), intent: { ...(item(3).intent as object), amount: '100000000000000001' } };
    const r = await sendBatch(h, [item(1), swapped, bumped, item(4)]);
    expect(r.status).toBe(200);
    expect(codes(r.json)).toEqual([
      'signed',
      expect.stringMatching(/DESTINATION/),
      'BAD_SIGNATURE',
      'signed',
    ]);
    expect(r.json.results[1]).toMatchObject({ ok: false, step: 'chain' });
    expect(r.json.results[2]).toMatchObject({ ok: false, step: 'requester' });
    expect(await ledgerCount(h.deps.db)).toBe(2);
    // Both refusals are in the hash-chained log, and the chain still verifies.
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: true, value: { count: 2 } });
  });

  it('a malformed item (unknown field) is refused like /v1/sign would, the others sign', async () => {
    const h = await open();
    const bad = { ...item(2), extra: 1 } as unknown as SignRequest;
    const body = JSON.stringify({ items: [item(1), bad, item(3)] });
    const r = await inject(h, signedRaw(h, body));
    expect(codes(r.json)).toEqual(['signed', 'UNKNOWN_FIELD', 'signed']);
  });

  it('I8: the same intent twice in one batch — identical copy gets the first result, a different tx is refused', async () => {
    const h = await open();
    const r = await sendBatch(h, [item(1), item(1), item(1, { nonce: 9 })]);
    expect(codes(r.json)).toEqual(['signed', 'repeated', 'LEDGER_INTENT_ALREADY_SIGNED']);
    expect((r.json.results[1] as SignResponse).result).toEqual((r.json.results[0] as SignResponse).result);
    expect(await ledgerCount(h.deps.db)).toBe(1);
  });

  it('I8: two intents spending the same nonce in one batch — the later one is a spend conflict', async () => {
    const h = await open();
    const r = await sendBatch(h, [item(1, { nonce: 7 }), item(2, { nonce: 7 }), item(3, { nonce: 8 })]);
    expect(codes(r.json)).toEqual(['signed', 'LEDGER_SPEND_CONFLICT', 'signed']);
    expect(await ledgerCount(h.deps.db)).toBe(2);
    // And against the ledger: a later batch reusing a signed nonce conflicts too.
    const later = await sendBatch(h, [item(4, { nonce: 8 })]);
    expect(codes(later.json)).toEqual(['LEDGER_SPEND_CONFLICT']);
  });

  it('velocity limit crossed inside the batch: item k is refused, the earlier ones sign', async () => {
    const h = await open();
    const big = 15n * 10n ** 17n; // 1.5 ETH; the wallet may send 3 ETH per 24h
    const r = await sendBatch(h, [
      item(1, { amount: big }),
      item(2, { amount: big }),
      item(3, { amount: big }),
      item(4, { amount: 1n }),
    ]);
    expect(codes(r.json)).toEqual(['signed', 'signed', 'POLICY_BLOCKED', 'POLICY_BLOCKED']);
    expect(await ledgerCount(h.deps.db)).toBe(2);
  });

  it('attack: replayed batch request (same nonce) is refused whole; nothing new is signed', async () => {
    const h = await open();
    const first = await sendBatch(h, [item(1), item(2)]);
    expect(codes(first.json)).toEqual(['signed', 'signed']);
    const replay = await inject(h, first.raw);
    expect(replay).toMatchObject({ status: 401, json: { ok: false, code: 'AUTH_REPLAY', step: 'auth' } });
    expect(await ledgerCount(h.deps.db)).toBe(2);
  });

  it('attack: a body byte changed after signing → auth refusal, nothing signed, not logged', async () => {
    const h = await open();
    const r = await sendBatch(h, [item(1), item(2)], (raw) => {
      raw.body = raw.body.replace(DEST, OTHER_DEST);
    });
    expect(r).toMatchObject({ status: 401, json: { ok: false, code: 'AUTH_BAD_SIGNATURE' } });
    expect(await ledgerCount(h.deps.db)).toBe(0);
    expect(unauthenticatedRefusals(h.deps.db)).toBe(1);
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: true, value: { count: 0 } });
  });

  it('identical retry returns repeated results and adds no ledger rows', async () => {
    const h = await open();
    const batch = [item(1), item(2), item(3)];
    const first = await sendBatch(h, batch);
    const again = await sendBatch(h, batch);
    expect(codes(again.json)).toEqual(['repeated', 'repeated', 'repeated']);
    expect(again.json.results.map((x) => (x as SignResponse).result)).toEqual(
      first.json.results.map((x) => (x as SignResponse).result),
    );
    expect(await ledgerCount(h.deps.db)).toBe(3);
  });

  it('65 items are refused as a whole (BATCH_TOO_LARGE); an empty batch too', async () => {
    const h = await open();
    const one = item(1);
    const tooMany = await inject(h, signedRaw(h, JSON.stringify({ items: Array(65).fill(one) })));
    expect(tooMany).toMatchObject({
      status: 400,
      json: { ok: false, code: 'BATCH_TOO_LARGE', step: 'parse' },
    });
    const empty = await inject(h, signedRaw(h, JSON.stringify({ items: [] })));
    expect(empty).toMatchObject({ status: 400, json: { ok: false, step: 'parse' } });
    const extra = await inject(h, signedRaw(h, JSON.stringify({ items: [one], more: 1 })));
    expect(extra).toMatchObject({ status: 400, json: { ok: false, code: 'UNKNOWN_FIELD' } });
    expect(() =>
      buildSignBatchHttpRequest(
        { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
        'cosigner-a',
        Array(65).fill(one),
        { timestampMs: h.clock.now, nonce: randomBytes(16) },
      ),
    ).toThrow();
    expect(await ledgerCount(h.deps.db)).toBe(0);
  });

  it('fault before commit: nothing signed, every passing item refused (transient); the retry signs', async () => {
    const h = await open();
    h.deps.fault = async (p) => {
      if (p === 'before-commit') throw new Error('crash before commit');
    };
    const r = await sendBatch(h, [item(1), item(2, { to: OTHER_DEST }), item(3)]);
    expect(codes(r.json)).toEqual(['INTERNAL', expect.stringMatching(/DESTINATION/), 'INTERNAL']);
    expect(await ledgerCount(h.deps.db)).toBe(0);
    h.deps.fault = undefined;
    const retry = await sendBatch(h, [item(1), item(3)]);
    expect(codes(retry.json)).toEqual(['signed', 'signed']);
  });

  it('fault after commit: the answer is lost, the retry returns the stored results', async () => {
    const h = await open();
    h.deps.fault = async (p) => {
      if (p === 'after-commit') throw new Error('crash after commit');
    };
    const r = await sendBatch(h, [item(1), item(2)]);
    expect(codes(r.json)).toEqual(['INTERNAL', 'INTERNAL']);
    expect(await ledgerCount(h.deps.db)).toBe(2);
    h.deps.fault = undefined;
    const retry = await sendBatch(h, [item(1), item(2)]);
    expect(codes(retry.json)).toEqual(['repeated', 'repeated']);
    expect(await ledgerCount(h.deps.db)).toBe(2);
    // A different transaction for the same intent is still refused (I8).
    const other = await sendBatch(h, [item(1, { nonce: 20 })]);
    expect(codes(other.json)).toEqual(['LEDGER_INTENT_ALREADY_SIGNED']);
  });
});

function signedRaw(h: Harness, body: string) {
  const headers = signRequest(coordinatorKey, {
    keyId: COORDINATOR_KEY_ID,
    audience: 'cosigner-a',
    method: 'POST',
    path: '/v1/sign-batch',
    body,
    timestampMs: h.clock.now,
    nonce: randomBytes(16),
  });
  return { headers: { ...headers, 'content-type': 'application/json' }, body };
}
