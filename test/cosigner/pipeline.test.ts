import { recoverAddress } from 'viem';
import { afterAll, describe, expect, it } from 'vitest';
import { unauthenticatedRefusals } from '../../src/cosigner/pipeline.ts';
import { verifyRefusalLog } from '../../src/cosigner/refusal-log.ts';
import { storeBackends } from '../helpers/db.ts';
import {
  approvalsFor,
  DEST,
  harness,
  hotTx,
  intent,
  migrateCosigner,
  OTHER_DEST,
  signRequestFor,
} from './fixture.ts';

const backends = await storeBackends();
const ID2 = '7d1c1a52-3f7e-4a43-8f0e-2a1b3c4d5e6f';
const ID3 = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

describe.each(backends)('co-signer pipeline on $name', (backend) => {
  afterAll(() => backend.cleanup());
  const open = async () => harness(await migrateCosigner(await backend.open({ migrate: false })));

  it('signs a verified intent; the signature recovers to the hot wallet; same tx again → same signature', async () => {
    const h = await open();
    const i = intent();
    const r = await h.send(signRequestFor(i));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ ok: true, cosigner: 'cosigner-a', intentId: i.id, repeated: false });
    const result = r.json.result as { signingHash: `0x${string}`; r: string; s: string; yParity: 0 | 1 };
    const recovered = await recoverAddress({
      hash: result.signingHash,
      signature: `${result.r}${result.s.slice(2)}${result.yParity ? '1c' : '1b'}` as `0x${string}`,
    });
    expect(recovered).toBe(h.address);
    const again = await h.send(signRequestFor(i));
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ repeated: true, result });
    const status = await h.app.inject({ method: 'GET', url: '/v1/status' });
    expect(status.statusCode).toBe(401); // unauthenticated status is refused too
  });

  it('attack: request replay (same headers and body) is refused', async () => {
    const h = await open();
    const first = await h.send(signRequestFor(intent()));
    expect(first.status).toBe(200);
    const replay = await h.replay(first.raw);
    expect(replay).toMatchObject({ status: 401, json: { code: 'AUTH_REPLAY', step: 'auth' } });
    // A replay was signed by a coordinator key: that one is logged.
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: true, value: { count: 1 } });
  });

  it('attack: body altered after the coordinator signed the request', async () => {
    const h = await open();
    const r = await h.send(signRequestFor(intent()), (raw) => {
      raw.body = raw.body.replace(DEST, OTHER_DEST);
    });
    expect(r).toMatchObject({ status: 401, json: { code: 'AUTH_BAD_SIGNATURE' } });
    // Not logged (anyone reaching the port could fill the log), only counted.
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: true, value: { count: 0 } });
    expect(unauthenticatedRefusals(h.deps.db)).toBe(1);
  });

  it('attack: one intent byte changed after approval (amount) — requester and approvals no longer bind', async () => {
    const h = await open();
    const original = intent();
    const tampered = { ...original, amount: '1000000000000000001' };
    // Coordinator rewrites the intent but forwards the original signatures.
    const r1 = await h.send({
      ...signRequestFor(original),
      intent: tampered,
      tx: { kind: 'evm-hot', unsignedTx: hotTx({ value: 1000000000000000001n }) },
    });
    expect(r1.json).toMatchObject({ ok: false, step: 'requester', code: 'BAD_SIGNATURE' });
    // Even with a (compromised) requester re-signing it, the approvals were for the original bytes.
    const r2 = await h.send({
      ...signRequestFor(tampered),
      approvals: approvalsFor(original),
      tx: { kind: 'evm-hot', unsignedTx: hotTx({ value: 1000000000000000001n }) },
    });
    expect(r2.json).toMatchObject({ ok: false, step: 'approvals', code: 'WRONG_INTENT' });
  });

  it('attack: approvals replayed from another intent, and too few approvals', async () => {
    const h = await open();
    const a = intent();
    const b = intent({ id: ID2 });
    const r = await h.send({ ...signRequestFor(b), approvals: approvalsFor(a) });
    expect(r.json).toMatchObject({ ok: false, step: 'approvals', code: 'WRONG_INTENT' });
    const one = await h.send({ ...signRequestFor(b), approvals: approvalsFor(b, ['alice']) });
    expect(one.json).toMatchObject({ ok: false, step: 'approvals', code: 'QUORUM_NOT_MET' });
  });

  it('attack: destination swapped in the unsigned transaction', async () => {
    const h = await open();
    const r = await h.send(
      signRequestFor(intent(), { tx: { kind: 'evm-hot', unsignedTx: hotTx({ to: OTHER_DEST }) } }),
    );
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ ok: false, step: 'chain' });
    expect(JSON.stringify(r.json)).toMatch(/DESTINATION/);
  });

  it('attack: intent to an address outside the address book is blocked by the bundle policy', async () => {
    const h = await open();
    const i = intent({ destination: OTHER_DEST });
    const r = await h.send(
      signRequestFor(i, { tx: { kind: 'evm-hot', unsignedTx: hotTx({ to: OTHER_DEST }) } }),
    );
    expect(r.json).toMatchObject({ ok: false, step: 'policy', code: 'POLICY_BLOCKED' });
  });

  it('I8: a second, different transaction for the same intent or the same nonce is refused', async () => {
    const h = await open();
    const i = intent();
    expect((await h.send(signRequestFor(i))).status).toBe(200);
    const otherTx = await h.send(
      signRequestFor(i, { tx: { kind: 'evm-hot', unsignedTx: hotTx({ tip: 2n * 10n ** 9n }) } }),
    );
    expect(otherTx).toMatchObject({ status: 409, json: { code: 'LEDGER_INTENT_ALREADY_SIGNED' } });
    // Another intent for the same wallet nonce (the first was not broadcast yet).
    const j = intent({ id: ID2 });
    const sameNonce = await h.send(signRequestFor(j));
    expect(sameNonce).toMatchObject({ status: 409, json: { code: 'LEDGER_SPEND_CONFLICT' } });
  });

  it('velocity limits come from the co-signer’s own ledger', async () => {
    const h = await open();
    const big = (id: string, nonce: number) => {
      const i = intent({ id, amount: '1500000000000000000' });
      return signRequestFor(i, {
        tx: { kind: 'evm-hot', unsignedTx: hotTx({ nonce, value: 1500000000000000000n }) },
      });
    };
    expect((await h.send(big(intent().id, 7))).status).toBe(200);
    const next = await harnessNonce(h, 8);
    expect((await next.send(big(ID2, 8))).status).toBe(200);
    const third = await harnessNonce(h, 9);
    const r = await third.send(big(ID3, 9)); // 4.5 ETH > 3 ETH daily
    expect(r.json).toMatchObject({ ok: false, step: 'policy', code: 'POLICY_BLOCKED' });
  });

  it('refuses unknown fields, duplicate keys and non-JSON; every refusal is hash-chained', async () => {
    const h = await open();
    const good = JSON.stringify(signRequestFor(intent()));
    const unknown = await h.sendText(good.replace('{"intent":', '{"extra":1,"intent":'));
    expect(unknown.json).toMatchObject({ code: 'UNKNOWN_FIELD', step: 'parse' });
    // Two "amount" keys: another parser could read the other one (same bytes, two meanings).
    const dup = await h.sendText(good.replace('"amount":', '"amount":"1","amount":'));
    expect(dup.json).toMatchObject({ code: 'DUPLICATE_KEY', step: 'parse' });
    const notJson = await h.sendText('{"intent":');
    expect(notJson).toMatchObject({ status: 400, json: { code: 'MALFORMED_JSON' } });
    const log = await verifyRefusalLog(h.deps.db);
    expect(log).toMatchObject({ ok: true, value: { count: 3 } });
    // Editing, deleting or reordering a logged refusal is detected.
    await h.deps.db.query("UPDATE cosigner_refusals SET code = 'NOTHING' WHERE seq = 2");
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_HASH' });
    await h.deps.db.query('DELETE FROM cosigner_refusals WHERE seq = 2');
    expect(await verifyRefusalLog(h.deps.db)).toMatchObject({ ok: false, code: 'REFUSAL_LOG_GAP' });
  });

  it('attack: a bundle row forged in the co-signer database is refused at reload', async () => {
    const h = await open();
    // Attacker with DB access adds their own address to the stored bundle's address book.
    const { rows } = await h.deps.db.query<{ chain: unknown }>('SELECT chain FROM cosigner_bundles');
    const chain = rows[0]!.chain as { config: { addressBook: Record<string, unknown>[] } }[];
    chain[0]!.config.addressBook.push({ ...chain[0]!.config.addressBook[0]!, address: OTHER_DEST });
    await h.deps.db.query('UPDATE cosigner_bundles SET chain = $1', [JSON.stringify(chain)]);
    const reloaded = await h.trust.reload();
    expect(reloaded).toMatchObject({ ok: false, code: 'BUNDLE_TAMPERED' });
    const i = intent({ destination: OTHER_DEST });
    const r = await h.send(
      signRequestFor(i, { tx: { kind: 'evm-hot', unsignedTx: hotTx({ to: OTHER_DEST }) } }),
    );
    expect(r.json).toMatchObject({ ok: false, code: 'NO_TRUST_BUNDLE' });
  });

  it('refuses an expired intent, a stale request and a PSBT for an EVM wallet', async () => {
    const h = await open();
    const psbt = await h.send(
      signRequestFor(intent(), { tx: { kind: 'psbt', psbt: 'cHNidP8BAAoCAAAAAAAAAAAAAA==' } }),
    );
    expect(psbt.json).toMatchObject({ ok: false, step: 'chain', code: 'WALLET_TYPE_MISMATCH' });
    h.clock.now = Date.parse(intent().expiresAt) + 1;
    const expired = await h.send(signRequestFor(intent()));
    expect(expired.json).toMatchObject({ ok: false, step: 'requester', code: 'INTENT_EXPIRED' });
    const stale = await h.send(signRequestFor(intent()), () => {
      h.clock.now += 60_000;
    });
    expect(stale.json).toMatchObject({ code: 'AUTH_STALE' });
  });
});

/** A harness on the same database whose chain reader reports another account nonce. */
async function harnessNonce(h: Awaited<ReturnType<typeof harness>>, nonce: number) {
  return harness(h.deps.db, { nonce: BigInt(nonce) });
}
