import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../src/core/policy/evaluate.ts';
import { AddressBookStore } from '../../src/store/addressbook.ts';
import type { Db } from '../../src/store/db.ts';
import { latestListLoad, recordListLoad } from '../../src/store/screening.ts';
import { storeBackends } from '../helpers/db.ts';
import { BTC_CHAIN, BTC_COLD, ctx, ETH_CHAIN, intent, KRAKEN, policy } from './fixtures.ts';

const backends = await storeBackends();
const DAY = 86_400_000;

describe.each(backends)('address book on $name', (backend) => {
  // One migrated database per backend (opening one runs every migration of every area: slow on a
  // busy machine); each test starts from empty tables.
  let shared: Db;
  beforeAll(async () => {
    shared = await backend.open();
  }, 180_000);
  afterAll(() => backend.cleanup());
  const fresh = async (): Promise<Db> => {
    await shared.query('DELETE FROM address_book');
    await shared.query('DELETE FROM screening_list_loads');
    return shared;
  };

  it('adds pending entries that become known only after the cool-down', async () => {
    const db = await fresh();
    const store = new AddressBookStore(db, DAY);
    const e = await store.add(
      { chain: ETH_CHAIN, address: KRAKEN, label: 'Kraken', category: 'exchange' },
      '2026-03-04T10:00:00Z',
    );
    expect(e).toMatchObject({ status: 'pending', activeFrom: '2026-03-05T10:00:00Z' });
    const p = policy('rules: [{ name: known, action: allow, when: { destination: { known: true } } }]\n');
    const at = async (now: string) =>
      evaluate(p, intent(), ctx({ now, addressBook: await store.list({ now }) })).decision;
    expect(await at('2026-03-05T09:59:59Z')).toBe('block');
    expect(await at('2026-03-05T10:00:00Z')).toBe('allow');
    expect((await store.get(ETH_CHAIN, KRAKEN.toLowerCase(), '2026-03-05T10:00:00Z'))?.status).toBe('active');
    expect(await store.activateDue('2026-03-05T10:00:00Z')).toBe(1);
  });

  it('refuses a cool-down below the floor, an unchecksummed address and a duplicate', async () => {
    const db = await fresh();
    const store = new AddressBookStore(db, DAY);
    await expect(
      store.add(
        { chain: ETH_CHAIN, address: KRAKEN, label: 'K', category: 'exchange', cooldownMs: DAY - 1 },
        '2026-03-04T10:00:00Z',
      ),
    ).rejects.toMatchObject({ code: 'COOLDOWN_BELOW_FLOOR' });
    await store.add(
      { chain: ETH_CHAIN, address: KRAKEN, label: 'K', category: 'exchange', cooldownMs: 2 * DAY },
      '2026-03-04T10:00:00Z',
    );
    await expect(
      store.add(
        { chain: ETH_CHAIN, address: KRAKEN.toLowerCase(), label: 'K2', category: 'exchange' },
        '2026-03-04T10:00:00Z',
      ),
    ).rejects.toMatchObject({ code: 'ADDRESS_CHECKSUM' });
    await expect(
      store.add(
        { chain: ETH_CHAIN, address: KRAKEN, label: 'K3', category: 'exchange' },
        '2026-03-04T11:00:00Z',
      ),
    ).rejects.toMatchObject({ code: 'ADDRESS_EXISTS' });
    expect(await store.list()).toHaveLength(1);
  });

  it('revokes: the entry stops counting at once', async () => {
    const db = await fresh();
    const store = new AddressBookStore(db, DAY);
    await store.add(
      { chain: BTC_CHAIN, address: BTC_COLD, label: 'Vault', category: 'cold-storage', owner: 'ops' },
      '2026-03-01T00:00:00Z',
    );
    const r = await store.revoke(BTC_CHAIN, BTC_COLD, '2026-03-04T00:00:00Z');
    expect(r).toMatchObject({ status: 'revoked', revokedAt: '2026-03-04T00:00:00Z', owner: 'ops' });
    await expect(store.revoke(BTC_CHAIN, BTC_COLD, '2026-03-04T00:00:00Z')).rejects.toMatchObject({
      code: 'ADDRESS_NOT_FOUND',
    });
    expect(await store.list({ chain: BTC_CHAIN, now: '2026-03-05T00:00:00Z' })).toMatchObject([
      { status: 'revoked' },
    ]);
  });

  it('refuses invalid addresses and binds every value', async () => {
    const db = await fresh();
    const store = new AddressBookStore(db, DAY);
    await expect(
      store.add(
        { chain: ETH_CHAIN, address: "0x'; DROP TABLE address_book; --", label: 'x', category: 'other' },
        '2026-03-04T10:00:00Z',
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ADDRESS' });
    await store.add(
      { chain: ETH_CHAIN, address: KRAKEN, label: "O'Brien; DROP TABLE address_book", category: 'customer' },
      '2026-03-04T10:00:00Z',
    );
    expect((await store.list())[0]?.label).toBe("O'Brien; DROP TABLE address_book");
  });

  it('records screening list loads', async () => {
    const db = await fresh();
    await recordListLoad(
      db,
      {
        provider: 'ofac',
        ok: true,
        digest: 'ab'.repeat(32),
        lists: [{ name: 'x', digest: 'cd', entries: 1 }],
      },
      '2026-03-04T10:00:00Z',
    );
    expect(await latestListLoad(db, 'ofac')).toEqual({
      digest: 'ab'.repeat(32),
      loadedAt: '2026-03-04T10:00:00Z',
    });
  });
});
