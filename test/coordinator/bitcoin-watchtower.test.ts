import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { BitcoinCoreRpc } from '../../src/bitcoin/rpc.ts';
import { recordSignedTx } from '../../src/bitcoin/watchtower.ts';
import { bitcoinWatchtower } from '../../src/coordinator/bitcoin-watchtower.ts';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.ts';
import type { WatchtowerDeps } from '../../src/coordinator/watchtower.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { AlertStore } from '../../src/store/workflow/alerts.ts';
import { block, spend } from '../bitcoin/chain-builder.ts';
import { ATTACKER, DESTINATION, multisigDescriptor, REGTEST, txidOf, wallet } from '../bitcoin/fixtures.ts';
import { NODE_DOUBLE_AUTH, type NodeDouble, startNodeDouble } from '../helpers/bitcoin-node-double.ts';
import { storeBackends } from '../helpers/db.ts';

/**
 * The Bitcoin watchtower as the coordinator runs it: wallets from the trust bundle, blocks from the
 * Bitcoin Core test double, alerts through the coordinator's persist path (alert row + audit entry
 * in the block's own transaction). A withdrawal the adapter recorded raises nothing; a spend of a
 * custody coin Custos never signed raises exactly one critical UNMATCHED_OUTFLOW, even after a restart.
 */
vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();
const NOW = new Date('2026-11-25T10:00:00Z');
const w = wallet('sh-wsh');
const record = {
  id: 'btc-cold-1',
  chain: REGTEST,
  type: 'bitcoin-descriptor' as const,
  config: { network: 'regtest', descriptor: multisigDescriptor('sh-wsh'), feeRateCeilingSatVb: 50 },
};

const b0 = block('00'.repeat(32), 0, []);
const funding = spend(
  [{ txid: 'aa'.repeat(32), vout: 0 }],
  [
    { script: deriveOutput(w, 'receive', 0).script, amount: 100_000_000n },
    { script: deriveOutput(w, 'change', 3).script, amount: 50_000_000n },
  ],
);
const fundId = txidOf(funding);
const b1 = block(b0.hash, 1, [funding]);
const ours = spend(
  [{ txid: fundId, vout: 0 }],
  [{ script: addressToScript(DESTINATION, 'regtest'), amount: 99_990_000n }],
);
const b2 = block(b1.hash, 2, [ours]);
const theft = spend(
  [{ txid: fundId, vout: 1 }],
  [{ script: addressToScript(ATTACKER, 'regtest'), amount: 49_990_000n }],
);
const b3 = block(b2.hash, 3, [theft]);

function deps(db: Db): WatchtowerDeps {
  return {
    db,
    audit: new AuditLog(db, { now: () => NOW.toISOString() }),
    alerts: new AlertStore(db),
    metrics: new CoordinatorMetrics(
      async () => ({}),
      async () => ({}),
    ),
    wallets: () => [record],
    clock: () => NOW,
  };
}

afterAll(async () => {
  for (const b of backends) await b.cleanup();
});

describe.each(backends)('coordinator Bitcoin watchtower ($name)', (backend) => {
  let node: NodeDouble | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  it('our recorded withdrawal: no alert; an unsigned custody spend: one critical alert, persisted and audited, not repeated', async () => {
    const db = await backend.open();
    node = await startNodeDouble({ blocks: [b0, b1, b2, b3] });
    const source = new BitcoinCoreRpc({ url: node.url, auth: NODE_DOUBLE_AUTH, timeoutMs: 5000 });
    await recordSignedTx(db, REGTEST, txidOf(ours), '3b241101-e2bb-4255-8caf-4136c566a962');
    const d = deps(db);
    const cfg = { chain: REGTEST, source, pollMs: 1000, scanUpTo: 10, startHeight: 1 };

    expect(await bitcoinWatchtower(d, cfg).tick()).toMatchObject({ processed: 3, alerts: 1, height: 3 });
    const { items } = await d.alerts.list({ limit: 10, subject: 'wallet:btc-cold-1' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      details: {
        chain: REGTEST,
        wallet: 'btc-cold-1',
        txHash: txidOf(theft),
        block: { number: '3', hash: b3.hash },
      },
    });
    const audit = await db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM audit_log WHERE kind = 'watchtower.alert'",
    );
    expect(audit.rows[0]!.n).toBe('1');

    // A restarted coordinator on the same database: cursor persisted, no duplicate alert.
    expect(await bitcoinWatchtower(d, cfg).tick()).toMatchObject({ processed: 0, alerts: 0, height: 3 });
    expect((await d.alerts.list({ limit: 10 })).items).toHaveLength(1);
  });

  it('an alert that cannot be persisted rolls the block back; it is raised on the next poll', async () => {
    const db = await backend.open();
    node = await startNodeDouble({ blocks: [b0, b1, b2, b3] });
    const source = new BitcoinCoreRpc({ url: node.url, auth: NODE_DOUBLE_AUTH, timeoutMs: 5000 });
    await recordSignedTx(db, REGTEST, txidOf(ours), 'i');
    const d = deps(db);
    const broken: WatchtowerDeps = {
      ...d,
      audit: {
        appendInTx: async () => {
          throw new Error('audit down');
        },
      } as unknown as WatchtowerDeps['audit'],
    };
    const cfg = { chain: REGTEST, source, pollMs: 1000, scanUpTo: 10, startHeight: 1 };
    await expect(bitcoinWatchtower(broken, cfg).tick()).rejects.toThrow(/audit down/);
    expect((await d.alerts.list({ limit: 10 })).items).toHaveLength(0);
    expect(await bitcoinWatchtower(d, cfg).tick()).toMatchObject({ alerts: 1, height: 3 });
    expect((await d.alerts.list({ limit: 10 })).items).toHaveLength(1);
  });
});
