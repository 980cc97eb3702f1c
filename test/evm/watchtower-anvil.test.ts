import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { encodeFunctionData, erc20Abi, pad, parseAbi } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeSafeTxHashes, parseSafeVersion } from '../../src/core/chains/evm/safe-hash.ts';
import { signSafeTx } from '../../src/core/chains/evm/sign.ts';
import type { Address, Hex, SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { safeStateFindings, verifySafeTransaction } from '../../src/core/chains/evm/verify-safe.ts';
import type { HotWallet, SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import type { EvmAlert, MatchLookup } from '../../src/core/chains/evm/watch.ts';
import { buildSafeTransfer } from '../../src/evm/build.ts';
import { readSafeChainState } from '../../src/evm/chain-state.ts';
import { executeSafeTransaction } from '../../src/evm/execute.ts';
import { memoryCursorStore } from '../../src/evm/watch-cursor.ts';
import { EvmWatchtower } from '../../src/evm/watchtower.ts';
import { CHAIN, startWorld, type World } from './world.ts';

let w: World;
let safe141: SafeWallet;
let safe130: SafeWallet;
let hot: HotWallet;
const hotKey: Hex = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;
const knownTx = new Set<string>();
const knownSafeTx = new Set<string>();
const lookup: MatchLookup = {
  isKnownTx: (h) => knownTx.has(h.toLowerCase()),
  isKnownSafeTx: (wallet, h) => knownSafeTx.has(`${wallet}:${h.toLowerCase()}`),
};
let alerts: EvmAlert[] = [];
let tower: EvmWatchtower;
const ZERO = '0x0000000000000000000000000000000000000000' as Address;
const ATTACKER_KEY: Hex = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;
const attacker = privateKeyToAccount(ATTACKER_KEY);

beforeAll(async () => {
  w = await startWorld();
  safe141 = await w.newSafe('safe-141', '1.4.1', true);
  safe130 = await w.newSafe('safe-130', '1.3.0', false);
  hot = {
    id: 'hot',
    chain: CHAIN,
    type: 'evm-hot',
    config: { address: privateKeyToAccount(hotKey).address },
  };
  await w.anvil.fund(hot.config.address, 10n ** 20n);
  await w.anvil.fund(attacker.address, 10n ** 20n);
  tower = new EvmWatchtower({
    chain: CHAIN,
    client: w.anvil.client,
    wallets: [safe141, safe130, hot],
    store: memoryCursorStore(),
    lookup,
    onAlert: (a) => {
      alerts.push(a);
    },
  });
  await tower.poll(); // start at the current head
  alerts = [];
}, 120_000);
afterAll(async () => {
  await w?.stop();
});

/** Signs with raw owner keys, the way an attacker holding leaked keys would (outside Custos). */
async function executeOutsideCustos(wallet: SafeWallet, fields: Omit<SafeTxFields, 'nonce'>) {
  const state = await readSafeChainState(w.anvil.client, wallet.config.address);
  const tx = { ...fields, nonce: state.nonce };
  const h = computeSafeTxHashes(
    parseSafeVersion(wallet.config.version),
    31337n,
    wallet.config.address,
    tx,
  ).safeTxHash;
  const sigs = await Promise.all(
    [w.cosignerKeys[0]!, w.recoveryKey].map(async (k) => ({
      owner: privateKeyToAccount(k).address,
      signature: await privateKeyToAccount(k).sign({ hash: h }),
    })),
  );
  return executeSafeTransaction(
    { safe: wallet.config.address, fields: tx, safeTxHash: h },
    sigs,
    w.anvil.wallet(ATTACKER_KEY),
    w.anvil.client,
  );
}

const gasless = {
  operation: 0 as const,
  safeTxGas: 0n,
  baseGas: 0n,
  gasPrice: 0n,
  gasToken: ZERO,
  refundReceiver: ZERO,
};

describe('watchtower on anvil', () => {
  it('a Custos-signed Safe transfer raises no alert', async () => {
    alerts = [];
    const intent = w.intent({ wallet: safe141.id, asset: `${CHAIN}/erc20:${w.token}`, amount: '5' });
    const tx = await buildSafeTransfer(intent, safe141, w.anvil.client);
    const state = await readSafeChainState(w.anvil.client, safe141.config.address);
    const v = verifySafeTransaction(intent, tx, safe141, state, w.assets);
    if (!v.ok) throw new Error(v.code);
    const sigs = await Promise.all(w.cosigners.map((s) => signSafeTx(v.value.typedData, s)));
    knownSafeTx.add(`${safe141.id}:${v.value.safeTxHash}`);
    await executeSafeTransaction(
      { safe: safe141.config.address, fields: tx, safeTxHash: v.value.safeTxHash },
      sigs,
      w.relayer,
      w.anvil.client,
    );
    const r = await tower.poll();
    expect(r.scanned.length).toBeGreaterThan(0);
    expect(alerts).toEqual([]);
  });

  it('Bybit: a delegatecall executed with leaked owner keys alerts in the block it lands in', async () => {
    alerts = [];
    const backdoorImpl = attacker.address;
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [backdoorImpl, 0n] });
    const exec = await executeOutsideCustos(safe141, {
      ...gasless,
      to: w.backdoor,
      value: 0n,
      data,
      operation: 1,
    });
    await tower.poll();
    const inBlock = alerts.filter(
      (a) => a.block.number === exec.blockNumber && a.block.hash === exec.blockHash,
    );
    expect(inBlock.map((a) => [a.code, a.details.kind ?? a.details.field])).toEqual(
      expect.arrayContaining([
        ['UNMATCHED_OUTFLOW', 'safe-execution'],
        ['WALLET_CONFIG_CHANGE', 'singleton'],
      ]),
    );
    const slot = inBlock.find((a) => a.details.field === 'singleton')!;
    expect(slot.wallet).toBe(safe141.id);
    expect(slot.details.actual).toBe(backdoorImpl);
    expect(slot.severity).toBe('critical');
    expect(slot.txHash).toBe(exec.txHash);
    // The hijacked Safe's storage still reads (no getter runs): slot 0 is the backdoor, which is
    // exactly the difference from the wallet config a co-signer refuses on.
    const hijacked = await readSafeChainState(
      w.anvil.client,
      safe141.config.address,
      undefined,
      safe141.config,
    );
    expect(hijacked.singleton).toBe(backdoorImpl);
    expect(safeStateFindings(safe141, hijacked)).toMatchObject([
      { code: 'WALLET_CONFIG_CHANGED', details: { singleton: { actual: backdoorImpl } } },
    ]);
  });

  it('owner added on a Safe 1.3.0 with leaked keys: config-change alerts (non-indexed events)', async () => {
    alerts = [];
    const data = encodeFunctionData({
      abi: parseAbi(['function addOwnerWithThreshold(address,uint256)']),
      args: [attacker.address, 1n],
    });
    const exec = await executeOutsideCustos(safe130, {
      ...gasless,
      to: safe130.config.address,
      value: 0n,
      data,
    });
    await tower.poll();
    const codes = alerts
      .filter((a) => a.txHash === exec.txHash)
      .map((a) => `${a.code}:${a.details.event ?? a.details.kind}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        'WALLET_CONFIG_CHANGE:AddedOwner',
        'WALLET_CONFIG_CHANGE:ChangedThreshold',
        'UNMATCHED_OUTFLOW:safe-execution',
      ]),
    );
  });

  it('a leaked hot-wallet key sending ETH directly', async () => {
    alerts = [];
    const thief = w.anvil.wallet(hotKey);
    const hash = await thief.sendTransaction({ to: attacker.address, value: 10n ** 18n });
    const receipt = await w.anvil.client.waitForTransactionReceipt({ hash });
    await tower.poll();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: 'critical',
      code: 'UNMATCHED_OUTFLOW',
      wallet: 'hot',
      txHash: hash,
      block: { number: receipt.blockNumber, hash: receipt.blockHash },
      details: { kind: 'transaction', value: (10n ** 18n).toString() },
    });
    // The same kind of transaction, broadcast by Custos (known hash), is matched.
    alerts = [];
    const ok = await thief.sendTransaction({ to: attacker.address, value: 1n, nonce: undefined });
    knownTx.add(ok.toLowerCase());
    await w.anvil.client.waitForTransactionReceipt({ hash: ok });
    await tower.poll();
    expect(alerts).toEqual([]);
  });

  it('honours confirmations and re-scans a reorged block', async () => {
    alerts = [];
    const store = memoryCursorStore();
    const seen: EvmAlert[] = [];
    const t2 = new EvmWatchtower({
      chain: CHAIN,
      client: w.anvil.client,
      wallets: [hot],
      store,
      lookup,
      onAlert: (a) => void seen.push(a),
      confirmations: 1,
      startBlock: (await w.anvil.client.getBlockNumber({ cacheTime: 0 })) + 1n,
    });
    await t2.poll();
    const snap = await w.anvil.rpc<string>('evm_snapshot');
    const thief = w.anvil.wallet(hotKey);
    const h1 = await thief.sendTransaction({ to: attacker.address, value: 11n });
    const r1 = await w.anvil.client.waitForTransactionReceipt({ hash: h1 });
    await t2.poll();
    expect(seen).toEqual([]); // one confirmation not reached yet
    await w.anvil.mine(1);
    await t2.poll();
    expect(seen.map((a) => a.txHash)).toEqual([h1]);
    // Reorg: replace that block with one carrying another theft, then extend the chain.
    await w.anvil.rpc('evm_revert', [snap]);
    const h2 = await thief.sendTransaction({ to: attacker.address, value: 22n });
    const r2 = await w.anvil.client.waitForTransactionReceipt({ hash: h2 });
    expect(r2.blockNumber).toBe(r1.blockNumber);
    expect(r2.blockHash).not.toBe(r1.blockHash);
    await w.anvil.mine(2);
    const res = await t2.poll();
    expect(res.reorgedFrom).toBe(r1.blockNumber);
    expect(seen.map((a) => a.txHash)).toEqual([h1, h2]);
    expect(seen[1]!.block.hash).toBe(r2.blockHash);
  });

  it('a leaked hot-wallet key moving ERC-20 tokens', async () => {
    alerts = [];
    const fundTx = await w.deployer.writeContract({
      address: w.token,
      abi: erc20Abi,
      functionName: 'transfer',
      args: [hot.config.address, 1000n],
    });
    await w.anvil.client.waitForTransactionReceipt({ hash: fundTx });
    const thief = w.anvil.wallet(hotKey);
    const hash = await thief.writeContract({
      address: w.token,
      abi: erc20Abi,
      functionName: 'transfer',
      args: [attacker.address, 999n],
    });
    await w.anvil.client.waitForTransactionReceipt({ hash });
    await tower.poll();
    // (the reorg test above may have left its replacement block for this tower to report too)
    expect(alerts.filter((a) => a.txHash === hash).map((a) => [a.txHash, a.details.kind])).toEqual([
      [hash, 'transaction'],
      [hash, 'erc20-transfer'],
    ]);
    expect(alerts.find((a) => a.details.kind === 'erc20-transfer')!.details.amount).toBe('999');
  });

  it('store-backed: PGlite cursor and known-transaction lookup, resumed after a restart', async () => {
    const { pgliteBackend } = await import('../helpers/db.ts');
    const { dbCursorStore } = await import('../../src/evm/watch-cursor.ts');
    const { evmKnownStore } = await import('../../src/evm/known-store.ts');
    const backend = pgliteBackend();
    try {
      const db = await backend.open();
      const known = evmKnownStore(db, CHAIN);
      const fresh = await w.newSafe('safe-130-fresh', '1.3.0', false);
      const seen: EvmAlert[] = [];
      const make = () =>
        new EvmWatchtower({
          chain: CHAIN,
          client: w.anvil.client,
          wallets: [safe141, fresh, hot],
          store: dbCursorStore(db),
          lookup: known.lookup(),
          onAlert: (a) => void seen.push(a),
        });
      const first = make();
      await first.poll();
      // Custos pays out through the Safe 1.3.0 and records what it signed and relayed.
      const intent = w.intent({ wallet: fresh.id, amount: '777' });
      const tx = await buildSafeTransfer(intent, fresh, w.anvil.client);
      const state = await readSafeChainState(w.anvil.client, fresh.config.address);
      const v = verifySafeTransaction(intent, tx, fresh, state, w.assets);
      if (!v.ok) throw new Error(v.code);
      await known.recordSafeTx({
        wallet: fresh.id,
        safeTxHash: v.value.safeTxHash,
        nonce: tx.nonce,
        intentId: intent.id,
        at: '2026-01-01T00:00:00Z',
      });
      const sigs = await Promise.all(w.cosigners.map((s) => signSafeTx(v.value.typedData, s)));
      const exec = await executeSafeTransaction(
        { safe: fresh.config.address, fields: tx, safeTxHash: v.value.safeTxHash },
        sigs,
        w.relayer,
        w.anvil.client,
      );
      await known.recordTx({
        txHash: exec.txHash,
        wallet: fresh.id,
        intentId: intent.id,
        kind: 'safe-exec',
        safeTxHash: v.value.safeTxHash,
        at: '2026-01-01T00:00:00Z',
      });
      await known.recordReceipt(exec.txHash, {
        blockNumber: exec.blockNumber,
        blockHash: exec.blockHash,
        status: 'success',
      });
      const r1 = await first.poll();
      expect(r1.scanned).toContain(exec.blockNumber);
      expect(seen).toEqual([]);
      // A restarted watchtower resumes from the stored cursor: nothing is scanned twice.
      const second = make();
      expect((await second.poll()).scanned).toEqual([]);
      const thief = w.anvil.wallet(hotKey);
      const theft = await thief.sendTransaction({ to: attacker.address, value: 3n });
      await w.anvil.client.waitForTransactionReceipt({ hash: theft });
      await second.poll();
      expect(seen.map((a) => a.txHash)).toEqual([theft]);
    } finally {
      await backend.cleanup();
    }
  }, 180_000);

  it('a periodic sweep reads slot 0 of every Safe, even one no block touched', async () => {
    const quiet = await w.newSafe('safe-quiet', '1.4.1', false);
    const seen: EvmAlert[] = [];
    const t3 = new EvmWatchtower({
      chain: CHAIN,
      client: w.anvil.client,
      wallets: [quiet],
      store: memoryCursorStore(),
      lookup,
      onAlert: (a) => void seen.push(a),
      sweepEvery: 1,
      startBlock: (await w.anvil.client.getBlockNumber({ cacheTime: 0 })) + 1n,
    });
    // Storage rewritten with no transaction and no log at all (a stand-in for any unlogged path).
    await w.anvil.rpc('anvil_setStorageAt', [
      quiet.config.address,
      '0x0',
      pad(attacker.address.toLowerCase() as Hex),
    ]);
    await w.anvil.mine(1);
    await t3.poll();
    expect(seen.map((a) => [a.code, a.wallet, a.details.field, a.txHash])).toEqual([
      ['WALLET_CONFIG_CHANGE', 'safe-quiet', 'singleton', null],
    ]);
  });

  it('a reorg that replaces the scanned tip without lengthening the chain is re-scanned', async () => {
    const seen: EvmAlert[] = [];
    const t4 = new EvmWatchtower({
      chain: CHAIN,
      client: w.anvil.client,
      wallets: [hot],
      store: memoryCursorStore(),
      lookup,
      onAlert: (a) => void seen.push(a),
      startBlock: (await w.anvil.client.getBlockNumber({ cacheTime: 0 })) + 1n,
    });
    const snap = await w.anvil.rpc<string>('evm_snapshot');
    const thief = w.anvil.wallet(hotKey);
    const h1 = await thief.sendTransaction({ to: attacker.address, value: 31n });
    const r1 = await w.anvil.client.waitForTransactionReceipt({ hash: h1 });
    await t4.poll();
    await w.anvil.rpc('evm_revert', [snap]);
    const h2 = await thief.sendTransaction({ to: attacker.address, value: 32n });
    const r2 = await w.anvil.client.waitForTransactionReceipt({ hash: h2 });
    expect([r2.blockNumber, await w.anvil.client.getBlockNumber({ cacheTime: 0 })]).toEqual([
      r1.blockNumber,
      r1.blockNumber,
    ]);
    const res = await t4.poll();
    expect(res.reorgedFrom).toBe(r1.blockNumber);
    expect(seen.map((a) => [a.txHash, a.block.hash])).toEqual([
      [h1, r1.blockHash],
      [h2, r2.blockHash],
    ]);
  });
  it('a poll that finds the head it settled on reads nothing else; a new or replaced head is read', async () => {
    const inner = memoryCursorStore();
    let reads = 0;
    const store = {
      ...inner,
      recent: (chain: string) => {
        reads++;
        return inner.recent(chain);
      },
    };
    const t5 = new EvmWatchtower({
      chain: CHAIN,
      client: w.anvil.client,
      wallets: [hot],
      store,
      lookup,
      onAlert: () => undefined,
    });
    const first = await t5.poll();
    expect(first.tip).toBe(first.head);
    const afterFirst = reads;
    // Nothing new: no cursor read, nothing scanned, the same head and tip reported.
    expect(await t5.poll()).toEqual({ scanned: [], head: first.head, tip: first.head });
    expect(reads).toBe(afterFirst);
    // A new block is read and scanned.
    await w.anvil.mine();
    const next = await t5.poll();
    expect(next.scanned).toEqual([first.head + 1n]);
    expect(reads).toBeGreaterThan(afterFirst);
  });
});
