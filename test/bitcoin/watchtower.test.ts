import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EsploraClient } from '../../src/bitcoin/esplora.ts';
import { BitcoinWatchtower, recordSignedTx } from '../../src/bitcoin/watchtower.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import type { UnmatchedOutflowAlert } from '../../src/core/chains/bitcoin/block/watch.ts';
import { deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import { type NodeDouble, startNodeDouble } from '../helpers/bitcoin-node-double.ts';
import { storeBackends } from '../helpers/db.ts';
import { block, spend } from './chain-builder.ts';
import { ATTACKER, DESTINATION, REGTEST, txidOf, wallet } from './fixtures.ts';

/**
 * Watchtower on both store backends, following a synthetic regtest chain served by the node TEST
 * DOUBLE through the Esplora adapter: custody funding, a Custos-signed spend (no alert), an
 * unsigned spend (critical alert), restart from the persisted cursor, reorgs.
 */
const backends = await storeBackends();
const w = wallet('sh-wsh');
const watch = (['receive', 'change'] as const).flatMap((b) =>
  Array.from({ length: 10 }, (_, i) => {
    const d = deriveOutput(w, b, i);
    return { wallet: 'btc-cold-1', script: d.script, witnessScript: d.witnessScript };
  }),
);
const custody0 = deriveOutput(w, 'receive', 0).script;
const custody1 = deriveOutput(w, 'change', 4).script;

// Chain: b0 anchor; b1 funds two custody outputs; b2 spends #0 (signed); b3 spends #1 (unsigned).
const b0 = block('00'.repeat(32), 0, []);
const funding = spend(
  [{ txid: 'aa'.repeat(32), vout: 0 }],
  [
    { script: custody0, amount: 100_000_000n },
    { script: custody1, amount: 50_000_000n },
  ],
);
const fundId = txidOf(funding);
const b1 = block(b0.hash, 1, [funding]);
const signedSpend = spend(
  [{ txid: fundId, vout: 0 }],
  [{ script: addressToScript(DESTINATION, 'regtest'), amount: 99_990_000n }],
);
const b2 = block(b1.hash, 2, [signedSpend]);
const theft = spend(
  [{ txid: fundId, vout: 1 }],
  [{ script: addressToScript(ATTACKER, 'regtest'), amount: 49_990_000n }],
);
const b3 = block(b2.hash, 3, [theft]);

let node: NodeDouble;
beforeAll(async () => {
  node = await startNodeDouble();
});
afterAll(() => node.close());

describe.each(backends)('Bitcoin watchtower on $name', (backend) => {
  afterEach(() => backend.cleanup());

  function tower(
    db: Awaited<ReturnType<typeof backend.open>>,
    alerts: UnmatchedOutflowAlert[],
    fail = false,
  ) {
    return new BitcoinWatchtower({
      db,
      source: new EsploraClient({ baseUrl: node.url, timeoutMs: 2000 }),
      chain: REGTEST,
      watch,
      startHeight: 1,
      onAlert: (a) => {
        if (fail) throw new Error('pager down');
        alerts.push(a);
      },
    });
  }

  it('alerts on the unsigned outflow only, once, and resumes from the persisted cursor', async () => {
    node.state.blocks = [b0, b1, b2, b3];
    const db = await backend.open();
    await recordSignedTx(db, REGTEST, txidOf(signedSpend), '3b241101-e2bb-4255-8caf-4136c566a962');
    const alerts: UnmatchedOutflowAlert[] = [];
    const r = await tower(db, alerts).poll();
    expect(r).toMatchObject({ processed: 3, rolledBack: 0, alerts: 1, height: 3 });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      chain: REGTEST,
      wallet: 'btc-cold-1',
      txid: txidOf(theft),
      block: { height: 3, hash: b3.hash },
    });
    expect(alerts[0]!.details.spent[0]).toMatchObject({ txid: fundId, vout: 1, value: 50_000_000 });

    // A new process on the same database: nothing re-scanned, no duplicate alert.
    const again: UnmatchedOutflowAlert[] = [];
    expect(await tower(db, again).poll()).toMatchObject({ processed: 0, height: 3 });
    expect(again).toHaveLength(0);
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM bitcoin_watch_utxos WHERE chain = $1 AND spent_height IS NOT NULL',
      [REGTEST],
    );
    expect(rows[0]!.n).toBe('2');
  });

  it('reorg: the theft block is replaced; UTXO state is undone, and the theft mined again alerts again', async () => {
    node.state.blocks = [b0, b1, b2, b3];
    const db = await backend.open();
    await recordSignedTx(db, REGTEST, txidOf(signedSpend), 'i');
    const alerts: UnmatchedOutflowAlert[] = [];
    const t = tower(db, alerts);
    await t.poll();
    expect(alerts).toHaveLength(1);

    // Competing branch from b2: b3' (empty), then b4' with no theft: the coin is unspent again.
    const b3x = block(b2.hash, 3, [], 7);
    const b4x = block(b3x.hash, 4, [], 7);
    node.state.blocks = [b0, b1, b2, b3x, b4x];
    const r = await t.poll();
    expect(r).toMatchObject({ rolledBack: 1, processed: 2, alerts: 0, height: 4 });
    const unspent = await db.query<{ vout: number }>(
      'SELECT vout FROM bitcoin_watch_utxos WHERE chain = $1 AND spent_height IS NULL',
      [REGTEST],
    );
    expect(unspent.rows.map((x) => Number(x.vout))).toEqual([1]);

    // The theft is mined on the new branch: a new critical alert for the new block.
    const b5x = block(b4x.hash, 5, [theft], 7);
    node.state.blocks = [b0, b1, b2, b3x, b4x, b5x];
    expect(await t.poll()).toMatchObject({ processed: 1, alerts: 1 });
    expect(alerts.at(-1)).toMatchObject({ txid: txidOf(theft), block: { height: 5, hash: b5x.hash } });
    expect((await t.cursor())!.hash).toBe(b5x.hash);
  });

  it('alert delivery failure rolls the block back (retried, never lost)', async () => {
    node.state.blocks = [b0, b1, b2, b3];
    const db = await backend.open();
    await recordSignedTx(db, REGTEST, txidOf(signedSpend), 'i');
    const alerts: UnmatchedOutflowAlert[] = [];
    await expect(tower(db, alerts, true).poll()).rejects.toThrow(/pager down/);
    expect((await tower(db, alerts).cursor())!.height).toBe(2);
    expect(await tower(db, alerts).poll()).toMatchObject({ processed: 1, alerts: 1 });
    expect(alerts).toHaveLength(1);
  });

  it('fails closed on a block whose transactions do not match its header', async () => {
    const forged = { ...b3, raw: b3.raw.slice() };
    forged.raw[forged.raw.length - 10] = forged.raw[forged.raw.length - 10]! ^ 0xff; // an output amount byte
    node.state.blocks = [b0, b1, b2, forged];
    const db = await backend.open();
    const alerts: UnmatchedOutflowAlert[] = [];
    await expect(tower(db, alerts).poll()).rejects.toMatchObject({ code: 'BLOCK_MERKLE_MISMATCH' });
    expect((await tower(db, alerts).cursor())!.height).toBe(2);
  });
});
