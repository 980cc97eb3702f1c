import { afterAll, describe, expect, it } from 'vitest';
import type { Hex } from '../../src/core/chains/evm/types.ts';
import { dbCursorStore, memoryCursorStore, type WatchCursorStore } from '../../src/evm/watch-cursor.ts';
import type { Db } from '../../src/store/db.ts';
import { type Backend, storeBackends } from '../helpers/db.ts';

const backends = await storeBackends();
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
const block = (n: number, fork = 0) => ({
  number: BigInt(n),
  hash: h(n * 1000 + fork),
  parentHash: h((n - 1) * 1000),
});

async function exercise(store: WatchCursorStore) {
  for (let n = 1; n <= 10; n++) await store.record('eip155:1', block(n), 5);
  const recent = await store.recent('eip155:1');
  expect(recent.map((b) => b.number)).toEqual([6n, 7n, 8n, 9n, 10n]);
  expect(recent[4]).toEqual(block(10));
  expect(await store.recent('eip155:5')).toEqual([]);
  await store.rewind('eip155:1', 9n);
  expect((await store.recent('eip155:1')).map((b) => b.number)).toEqual([6n, 7n, 8n]);
  await store.record('eip155:1', block(9, 1), 5);
  expect((await store.recent('eip155:1')).at(-1)).toEqual(block(9, 1));
}

describe('watchtower cursor', () => {
  it('memory store', async () => {
    await exercise(memoryCursorStore());
  });
});

describe.each(backends.map((b) => [b.name, b] as [string, Backend]))(
  'watchtower cursor on %s',
  (_name, backend) => {
    afterAll(() => backend.cleanup());
    it('persists recent blocks, prunes, rewinds after a reorg, survives reopening', async () => {
      const db: Db = await backend.open();
      await exercise(dbCursorStore(db));
      // A second store on the same database (a restarted watchtower) resumes from the cursor.
      expect((await dbCursorStore(db).recent('eip155:1')).map((b) => b.number)).toEqual([6n, 7n, 8n, 9n]);
    }, 120_000);
  },
);

describe.each(backends.map((b) => [b.name, b] as [string, Backend]))(
  'known-transaction store on %s',
  (_name, backend) => {
    afterAll(() => backend.cleanup());
    it('records signed safeTxHashes and broadcast txs; the lookup answers after prepare', async () => {
      const { evmKnownStore } = await import('../../src/evm/known-store.ts');
      const db: Db = await backend.open();
      const store = evmKnownStore(db, 'eip155:31337');
      const other = evmKnownStore(db, 'eip155:1');
      await store.recordSafeTx({
        wallet: 'w',
        safeTxHash: h(1).toUpperCase().replace('0X', '0x') as Hex,
        nonce: 3n,
        intentId: 'i',
        at: '2026-01-01T00:00:00Z',
      });
      await store.recordTx({
        txHash: h(2),
        wallet: 'w',
        intentId: 'i',
        kind: 'safe-exec',
        safeTxHash: h(1),
        at: '2026-01-01T00:00:00Z',
      });
      await store.recordReceipt(h(2), { blockNumber: 5n, blockHash: h(5), status: 'success' });
      const l = store.lookup();
      await l.prepare({
        txHashes: [h(2), h(3)],
        safeTxs: [
          { wallet: 'w', safeTxHash: h(1) },
          { wallet: 'x', safeTxHash: h(1) },
        ],
      });
      expect([l.isKnownTx(h(2)), l.isKnownTx(h(3))]).toEqual([true, false]);
      expect([l.isKnownSafeTx('w', h(1)), l.isKnownSafeTx('x', h(1))]).toEqual([true, false]);
      const lo = other.lookup();
      await lo.prepare({ txHashes: [h(2)], safeTxs: [{ wallet: 'w', safeTxHash: h(1) }] });
      expect([lo.isKnownTx(h(2)), lo.isKnownSafeTx('w', h(1))]).toEqual([false, false]);
      const r = await db.query<{ status: string; block_number: string }>(
        'SELECT status, block_number::text AS block_number FROM evm_known_tx',
      );
      expect(r.rows).toEqual([{ status: 'success', block_number: '5' }]);
    }, 120_000);

    it('a batch of finalizations records its Safe transactions and carriers with one statement', async () => {
      const { evmKnownStore } = await import('../../src/evm/known-store.ts');
      const { countingDb } = await import('../helpers/counting-db.ts');
      const db = countingDb(await backend.open());
      const store = evmKnownStore(db, 'eip155:31337');
      const at = '2026-01-01T00:00:00Z';
      const before = db.statements;
      // Five withdrawals finalized in the same turn: a Safe transaction and a carrier each.
      await Promise.all(
        [1, 2, 3, 4, 5].flatMap((i) => [
          store.recordSafeTx({
            wallet: `w${i}`,
            safeTxHash: h(10 + i),
            nonce: BigInt(i),
            intentId: `i${i}`,
            at,
          }),
          store.recordTx({
            txHash: h(20 + i),
            wallet: `w${i}`,
            intentId: `i${i}`,
            kind: 'safe-exec',
            safeTxHash: h(10 + i),
            at,
          }),
        ]),
      );
      expect(db.statements - before).toBe(1);
      const l = store.lookup();
      const safeTxs = [1, 2, 3, 4, 5].map((i) => ({ wallet: `w${i}`, safeTxHash: h(10 + i) }));
      await l.prepare({ txHashes: [1, 2, 3, 4, 5].map((i) => h(20 + i)), safeTxs });
      for (const i of [1, 2, 3, 4, 5]) {
        expect(l.isKnownTx(h(20 + i))).toBe(true);
        expect(l.isKnownSafeTx(`w${i}`, h(10 + i))).toBe(true);
      }
      // A carrier alone (a hot-wallet transaction) and a Safe transaction alone each still go in.
      await store.recordTx({ txHash: h(30), wallet: 'hot', intentId: 'h', kind: 'hot', at });
      await store.recordSafeTx({ wallet: 'w9', safeTxHash: h(31), nonce: 9n, intentId: 'j', at });
      await l.prepare({ txHashes: [h(30)], safeTxs: [{ wallet: 'w9', safeTxHash: h(31) }] });
      expect([l.isKnownTx(h(30)), l.isKnownSafeTx('w9', h(31))]).toEqual([true, true]);
    }, 120_000);
  },
);
