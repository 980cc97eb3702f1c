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
    });
  },
);
