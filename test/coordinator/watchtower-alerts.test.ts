import { afterAll, describe, expect, it, vi } from 'vitest';
import { CoordinatorMetrics } from '../../src/coordinator/metrics.ts';
import { persistEvmAlert, type WatchtowerDeps } from '../../src/coordinator/watchtower.ts';
import type { EvmAlert } from '../../src/core/chains/evm/index.ts';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { AlertStore } from '../../src/store/workflow/alerts.ts';
import { WebhookOutbox } from '../../src/webhooks/outbox.ts';
import { storeBackends } from '../helpers/db.ts';

vi.setConfig({ testTimeout: 120_000 });
const backends = await storeBackends();
const NOW = new Date('2026-11-25T10:00:00Z');

const alert: EvmAlert = {
  severity: 'critical',
  code: 'UNMATCHED_OUTFLOW',
  chain: 'eip155:31337',
  wallet: 'safe-1',
  txHash: `0x${'ab'.repeat(32)}`,
  block: { number: 42n, hash: `0x${'cd'.repeat(32)}` },
  details: { kind: 'transaction', value: 10n ** 18n, nonce: 7n },
};

async function deps(
  db: Db,
  audit: WatchtowerDeps['audit'],
): Promise<WatchtowerDeps & { webhooks: WebhookOutbox }> {
  const webhooks = new WebhookOutbox(db);
  await webhooks.addEndpoint({
    id: 'soc',
    url: 'https://soc.example/hook',
    secret: 's'.repeat(32),
    events: ['alert.raised'],
    now: NOW.toISOString(),
  });
  return {
    db,
    audit,
    alerts: new AlertStore(db),
    metrics: new CoordinatorMetrics(
      async () => ({}),
      async () => ({}),
    ),
    wallets: () => [],
    webhooks,
    clock: () => NOW,
  };
}

async function alertCount(m: CoordinatorMetrics): Promise<number> {
  const v = (await m.registry.getSingleMetric('custos_watchtower_alerts_total')!.get()).values;
  return v.find((x) => x.labels.code === 'UNMATCHED_OUTFLOW')?.value ?? 0;
}

describe.each(backends)('watchtower alert persistence on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('writes the alert, its audit entry and the webhook event; counts it', async () => {
    const db = await backend.open();
    const audit = new AuditLog(db, { now: () => NOW.toISOString() });
    const d = await deps(db, audit);
    const id = await persistEvmAlert(d, alert);

    const { items } = await d.alerts.list({ limit: 10, subject: 'wallet:safe-1' });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      id,
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      details: {
        chain: 'eip155:31337',
        txHash: alert.txHash,
        block: { number: '42', hash: alert.block.hash },
        value: '1000000000000000000',
        nonce: '7',
      },
    });
    const hooks = await d.webhooks.list();
    expect(hooks.map((h) => [h.event, h.eventId])).toEqual([['alert.raised', `alert-${id}`]]);
    const { rows } = await db.query<{ kind: string; subject: string }>(
      "SELECT kind, subject FROM audit_log WHERE kind = 'watchtower.alert'",
    );
    expect(rows).toEqual([{ kind: 'watchtower.alert', subject: 'wallet:safe-1' }]);
    expect(await alertCount(d.metrics)).toBe(1);
  });

  it('all or nothing: when the audit append fails there is no alert and no webhook, and the error reaches the watchtower', async () => {
    const db = await backend.open();
    const d = await deps(db, {
      appendInTx: async () => {
        throw new Error('audit log unavailable');
      },
    });
    await expect(persistEvmAlert(d, alert)).rejects.toThrow('audit log unavailable');
    expect((await d.alerts.list({ limit: 10 })).items).toEqual([]);
    expect(await d.webhooks.list()).toEqual([]);
    expect(await alertCount(d.metrics)).toBe(0);
  });
});
