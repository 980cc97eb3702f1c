import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { startAnvil } from '../helpers/anvil.ts';
import { storeBackends } from '../helpers/db.ts';
import { CHAIN, ChainDouble, fixture, makeIntent, submit } from './helpers/fixture.ts';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
const backends = await storeBackends();

/** Ten minutes: a confirmation that happens within a test was woken, not re-polled. */
const NEVER_MS = 600_000;

/**
 * A coordinator whose confirmation re-check is ten minutes away, and one intent driven to
 * `broadcast` with its first check done (the chain reported it pending).
 */
async function broadcastOne(db: Db, chain: ChainDouble = new ChainDouble()) {
  const { c } = await fixture(db, {
    chains: new Map([[CHAIN, chain]]),
    polling: { confirmPollMs: NEVER_MS, walletBusyPollMs: 10 },
  });
  chain.state = 'pending';
  const intent = makeIntent();
  expect(await submit(c, intent)).toBe(201);
  await c.worker.drain(20);
  const state = async () => (await c.intents.get(intent.id))!.state;
  expect(await state()).toBe('broadcast');
  return { c, chain, state };
}

describe.each(backends)('confirmations woken by new blocks on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it("wakeConfirms brings forward only the chain's snoozed confirmation checks", async () => {
    const { c, chain, state } = await broadcastOne(await backend.open());
    // Mined now, but its check is snoozed for ten minutes: nothing runs.
    chain.state = 'confirmed';
    expect(await c.worker.drain(20)).toBe(0);
    expect(await state()).toBe('broadcast');
    // A block of another chain changes nothing.
    expect(await c.engine.wakeConfirms('eip155:1')).toBe(0);
    expect(await c.worker.drain(20)).toBe(0);
    expect(await state()).toBe('broadcast');
    // A block of its chain makes the check due at once.
    expect(await c.engine.wakeConfirms(CHAIN)).toBe(1);
    await c.worker.drain(20);
    expect(await state()).toBe('confirmed');
    expect(await c.engine.wakeConfirms(CHAIN)).toBe(0);
    await c.close();
  });
});

/** TEST DOUBLE: a chain whose next receipt read is overtaken by a new block (seen by the watchtower). */
class RacingChain extends ChainDouble {
  duringRead?: () => void;
  override async status() {
    const s = this.state;
    const hook = this.duringRead;
    this.duringRead = undefined;
    hook?.();
    return s;
  }
}

describe.each(backends)('a block that lands while a confirmation batch runs, on $name', (backend) => {
  afterAll(() => backend.cleanup());

  it('re-checks at once the intents it read as pending instead of after the poll', async () => {
    const chain = new RacingChain();
    const { c, state } = await broadcastOne(await backend.open(), chain);
    // The next read reports pending, but a block holding the transaction is seen meanwhile: the
    // wake that follows it cannot reach the claimed job.
    chain.duringRead = () => {
      c.engine.noteNewBlock(CHAIN);
      chain.state = 'confirmed';
    };
    expect(await c.engine.wakeConfirms(CHAIN)).toBe(1);
    await c.worker.drain(20);
    expect(await state()).toBe('confirmed');
    await c.close();
  });
});

describe('the watchtower wakes the confirmation lane', () => {
  const backend = backends[0]!;
  afterAll(() => backend.cleanup());

  it('a new block seen by the EVM watchtower confirms a broadcast intent whose re-check is ten minutes away', async () => {
    const node = await startAnvil();
    try {
      const db = await backend.open();
      const { c, chain } = await fixture(db, {
        // The worker runs; its lanes poll once a minute, so only pokes and wakes move them.
        worker: { enabled: true, pollMs: 60_000 },
        polling: { confirmPollMs: NEVER_MS, walletBusyPollMs: 10 },
        watch: {
          chains: [{ chain: CHAIN, client: node.client, pollMs: 50, confirmations: 0, sweepEvery: 0 }],
          wallets: () => [],
        },
      });
      try {
        chain.state = 'pending';
        const intent = makeIntent();
        expect(await submit(c, intent)).toBe(201);
        const state = async () => (await c.intents.get(intent.id))!.state;
        await vi.waitFor(async () => expect(await state()).toBe('broadcast'), {
          timeout: 30_000,
          interval: 50,
        });
        // Let the first (pending) check run and snooze.
        await vi.waitFor(
          async () => {
            const { rows } = await db.query<{ run_at: Date }>(
              `SELECT run_at FROM wf_jobs WHERE dedup_key = $1 AND status = 'queued'`,
              [`confirm:${intent.id}`],
            );
            expect(rows[0]!.run_at.getTime()).toBeGreaterThan(Date.now() + 60_000);
          },
          { timeout: 30_000, interval: 50 },
        );
        chain.state = 'confirmed';
        await node.mine();
        await vi.waitFor(async () => expect(await state()).toBe('confirmed'), {
          timeout: 30_000,
          interval: 50,
        });
      } finally {
        await c.close();
      }
    } finally {
      await node.stop();
    }
  });
});
