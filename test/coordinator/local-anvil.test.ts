import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnvilProcess, startAnvil } from '../../src/coordinator/local/anvil.ts';

/** `custos up --block-time` and the e2e bench: anvil switched between automine and interval mining. */
describe('local anvil block time', () => {
  let anvil: AnvilProcess;
  let from: string;
  beforeAll(async () => {
    anvil = await startAnvil();
    from = (await anvil.rpc<string[]>('eth_accounts'))[0]!;
  }, 60_000);
  afterAll(async () => {
    await anvil?.stop();
  });

  const send = (nonce: number) =>
    anvil.rpc<string>('eth_sendTransaction', [
      {
        from,
        to: '0x5d5c99EdF529335160FF180fA141Dd4967fc00D2',
        value: '0x1',
        nonce: `0x${nonce.toString(16)}`,
      },
    ]);
  const receipt = (h: string) => anvil.rpc<{ blockNumber: string } | null>('eth_getTransactionReceipt', [h]);

  it('with a block time, transactions wait for the next block and share it', async () => {
    await anvil.setBlockTime(1);
    const n = Number(await anvil.rpc<string>('eth_getTransactionCount', [from, 'latest']));
    const [a, b] = [await send(n), await send(n + 1)];
    expect(await receipt(a)).toBeNull();
    let ra: { blockNumber: string } | null = null;
    for (let i = 0; i < 50 && !ra; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ra = await receipt(a);
    }
    const rb = await receipt(b);
    expect(ra).not.toBeNull();
    expect(rb?.blockNumber).toBe(ra!.blockNumber);
  }, 30_000);

  it('block time 0 is automine again: a transaction is mined at once', async () => {
    await anvil.setBlockTime(0);
    expect(await anvil.rpc<boolean>('anvil_getAutomine')).toBe(true);
    const n = Number(await anvil.rpc<string>('eth_getTransactionCount', [from, 'pending']));
    const h = await send(n);
    // Mined by automine without any block time passing; the receipt is read until it shows up
    // (anvil answered eth_sendTransaction before storing the receipt once on a loaded CI host).
    let r: { blockNumber: string } | null = null;
    for (let i = 0; i < 20 && !r; i++) {
      r = await receipt(h);
      if (!r) await new Promise((res) => setTimeout(res, 25));
    }
    expect(r).not.toBeNull();
  }, 30_000);

  it('refuses a block time that is not whole seconds', async () => {
    await expect(anvil.setBlockTime(0.5)).rejects.toMatchObject({ code: 'ANVIL_BLOCK_TIME' });
    await expect(anvil.setBlockTime(-1)).rejects.toMatchObject({ code: 'ANVIL_BLOCK_TIME' });
  });
});
