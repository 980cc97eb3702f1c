import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Chain,
  createPublicClient,
  encodeAbiParameters,
  getAddress,
  http,
  keccak256,
  type PublicClient,
  type Transport,
} from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SafeChainState, SafeWallet } from '../../src/core/chains/evm/index.ts';
import { viemChainReader } from '../../src/cosigner/evm-rpc.ts';
import { readSafeChainState } from '../../src/evm/chain-state.ts';
import {
  FALLBACK_HANDLER_STORAGE_SLOT,
  GUARD_STORAGE_SLOT,
  SENTINEL,
  safeAbi,
} from '../../src/evm/safe-abi.ts';
import { CHAIN, startWorld, type World } from '../evm/world.ts';

/**
 * The co-signer's Safe state reader (the proxy's storage words only: no getter runs on the node)
 * against real Safes on anvil: the same values as viem's readContract/getStorageAt actions (the
 * getters, kept here as the reference), one shared eth_blockNumber for concurrent
 * reads and a fresh one for the next, and the same typed refusal (CHAIN_STATE_UNAVAILABLE) when
 * the node is unreachable or answers garbage (a TEST DOUBLE proxy tampers with anvil's answers).
 */
let w: World;
let safes: SafeWallet[];
let proxy: Server;
let proxyUrl: string;
const seen: string[][] = [];
let tamper:
  | ((call: { method: string; params?: unknown[] }, answer: Record<string, unknown>) => void)
  | undefined;

async function reference(client: PublicClient<Transport, Chain>, safe: `0x${string}`, at: bigint) {
  const word = (w: `0x${string}` | undefined) =>
    getAddress(`0x${(w ?? '0x').slice(2).padStart(64, '0').slice(24)}`);
  const read = (functionName: 'nonce' | 'getOwners' | 'getThreshold') =>
    client.readContract({ address: safe, abi: safeAbi, functionName, blockNumber: at });
  const [chainId, nonce, owners, threshold, modules, slot0, guard, fallbackHandler] = await Promise.all([
    client.getChainId(),
    read('nonce'),
    read('getOwners'),
    read('getThreshold'),
    client.readContract({
      address: safe,
      abi: safeAbi,
      functionName: 'getModulesPaginated',
      args: [SENTINEL, 50n],
      blockNumber: at,
    }),
    client.getStorageAt({ address: safe, slot: '0x0', blockNumber: at }),
    client.getStorageAt({ address: safe, slot: GUARD_STORAGE_SLOT, blockNumber: at }),
    client.getStorageAt({ address: safe, slot: FALLBACK_HANDLER_STORAGE_SLOT, blockNumber: at }),
  ]);
  return {
    chainId: BigInt(chainId),
    nonce,
    singleton: word(slot0),
    owners: (owners as readonly `0x${string}`[]).map((o) => getAddress(o)),
    threshold,
    modules: modules[0].map((m) => getAddress(m)),
    guard: word(guard),
    fallbackHandler: word(fallbackHandler),
  } as SafeChainState;
}

const setSlot = (safe: `0x${string}`, slot: `0x${string}`, value: bigint | `0x${string}`) =>
  w.anvil.rpc('anvil_setStorageAt', [
    safe,
    slot,
    typeof value === 'bigint'
      ? `0x${value.toString(16).padStart(64, '0')}`
      : value.toLowerCase().slice(2).padStart(64, '0').replace(/^/, '0x'),
  ]);
/** Safe ModuleManager: `mapping(address => address) modules` at slot 1; OwnerManager's owners at 2. */
const mappingSlot = (slot: bigint) => (key: `0x${string}`) =>
  keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [key, slot]));
const moduleSlot = mappingSlot(1n);
const ownerSlot = mappingSlot(2n);

beforeAll(async () => {
  w = await startWorld();
  safes = [await w.newSafe('a', '1.4.1', false), await w.newSafe('b', '1.3.0', true)];
  // Safe b: nonce 9, a guard, one module (SENTINEL → module → SENTINEL): non-trivial values.
  const b = safes[1]!.config.address;
  const mod = getAddress('0x00000000000000000000000000000000000d00d1');
  const guard = getAddress('0x00000000000000000000000000000000000a0a0a');
  await setSlot(b, '0x5', 9n);
  await setSlot(b, GUARD_STORAGE_SLOT, guard);
  await setSlot(b, moduleSlot(SENTINEL), mod);
  await setSlot(b, moduleSlot(mod), SENTINEL);
  await w.anvil.mine();
  proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const parsed = JSON.parse(body.toString()) as unknown;
    const calls = (Array.isArray(parsed) ? parsed : [parsed]) as { method: string; params?: unknown[] }[];
    seen.push(calls.map((c) => c.method));
    const up = await fetch(w.anvil.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const json = (await up.json()) as Record<string, unknown> | Record<string, unknown>[];
    const answers = Array.isArray(json) ? json : [json];
    for (const [k, a] of answers.entries()) tamper?.(calls[k]!, a);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await w?.stop();
});

const clientOf = (url: string) =>
  createPublicClient({
    chain: w.anvil.chain,
    transport: http(url, { batch: { wait: 0 }, retryCount: 0 }),
  }) as PublicClient<Transport, Chain>;

describe('Safe chain-state reader on anvil', () => {
  it('reads the same values as viem’s readContract/getStorageAt, at one block', async () => {
    const at = await w.anvil.client.getBlockNumber();
    for (const safe of safes) {
      const got = await readSafeChainState(w.anvil.client, safe.config.address, at);
      expect(got).toEqual(await reference(w.anvil.client, safe.config.address, at));
      expect(await readSafeChainState(w.anvil.client, safe.config.address)).toEqual(got);
    }
    const b = await readSafeChainState(w.anvil.client, safes[1]!.config.address);
    expect(b.nonce).toBe(9n);
    expect(b.guard).toBe(getAddress('0x00000000000000000000000000000000000a0a0a'));
    expect(b.modules).toEqual([getAddress('0x00000000000000000000000000000000000d00d1')]);
    expect(b.owners).toEqual(w.owners);
    expect(b.singleton).toBe(safes[1]!.config.singleton);
    expect(b.fallbackHandler).toBe(safes[1]!.config.fallbackHandler);
    const reader = viemChainReader({ [CHAIN]: w.anvil.rpcUrl });
    expect(await reader.safeState(CHAIN, safes[0]!.config.address)).toEqual({
      ok: true,
      value: await reference(w.anvil.client, safes[0]!.config.address, await w.anvil.client.getBlockNumber()),
    });
  });

  it('concurrent reads share one eth_blockNumber (one HTTP request); the next read asks again', async () => {
    const client = clientOf(proxyUrl);
    seen.length = 0;
    const [x, y] = await Promise.all(safes.map((s) => readSafeChainState(client, s.config.address)));
    expect(x!.chainId).toBe(31337n);
    expect(y!.nonce).toBe(9n);
    const methods = seen.flat();
    expect(methods.filter((m) => m === 'eth_blockNumber')).toHaveLength(1);
    expect(methods.filter((m) => m === 'eth_call')).toHaveLength(0);
    // Without hints each list is walked entry by entry: 5 fixed words, SENTINEL and every owner,
    // SENTINEL of the modules (and b's one module), per Safe.
    const owners = w.owners.length;
    expect(methods.filter((m) => m === 'eth_getStorageAt')).toHaveLength(2 * (5 + 1 + owners + 1) + 1);
    seen.length = 0;
    await w.anvil.mine();
    await readSafeChainState(client, safes[0]!.config.address);
    expect(seen.flat().filter((m) => m === 'eth_blockNumber')).toHaveLength(1);
  });

  type Call = { method: string; params?: unknown[] };
  const answer =
    (when: (c: Call) => boolean, result: unknown) =>
    (c: Call, a: Record<string, unknown>): void => {
      if (when(c)) a.result = result;
    };
  const is = (method: string) => (c: Call) => c.method === method;
  const entryOf = (slot: string) => (c: Call) => c.method === 'eth_getStorageAt' && c.params?.[1] === slot;
  const word = (a: string) => `0x${a.slice(2).toLowerCase().padStart(64, '0')}`;
  const garbage: [string, (c: Call, a: Record<string, unknown>) => void][] = [
    ['odd-length hex for a storage word', answer(is('eth_getStorageAt'), '0x123')],
    ['non-hex storage word', answer(is('eth_getStorageAt'), 'not hex')],
    ['over-long storage word', answer(is('eth_getStorageAt'), `0x${'ab'.repeat(40)}`)],
    ['chain id not a quantity', answer(is('eth_chainId'), '0xzz')],
    ['numeric chain id', answer(is('eth_chainId'), 31337)],
    // getOwners would revert on either: the read must not invent an owner list.
    ['an owners entry unset (a broken list)', (c, a) => answer(entryOf(ownerSlot(w.owners[1]!)), '0x')(c, a)],
    [
      'an owners list that loops back on itself',
      (c, a) => answer(entryOf(ownerSlot(w.owners[1]!)), word(w.owners[0]!))(c, a),
    ],
    [
      // (co-signer reader only: viem's batching transport, used through a viem client, pairs
      // answers with calls by position, not id)
      'an answer missing from the batch (id not ours)',
      (c, a) => {
        if (c.method === 'eth_getStorageAt') a.id = 987_654_321;
      },
    ],
    [
      'JSON-RPC error for a storage read',
      (c, a) => {
        if (c.method !== 'eth_getStorageAt') return;
        delete a.result;
        a.error = { code: -32000, message: 'header not found' };
      },
    ],
  ];
  for (const [name, fn] of garbage) {
    it(`fails closed with CHAIN_STATE_UNAVAILABLE: ${name}`, async () => {
      tamper = fn;
      try {
        const safe = safes[0]!.config.address;
        if (!name.startsWith('an answer missing'))
          await expect(readSafeChainState(clientOf(proxyUrl), safe)).rejects.toMatchObject({
            code: 'CHAIN_STATE_UNAVAILABLE',
          });
        const r = await viemChainReader({ [CHAIN]: proxyUrl }).safeState(CHAIN, safe);
        expect(r).toMatchObject({ ok: false, code: 'CHAIN_STATE_UNAVAILABLE' });
      } finally {
        tamper = undefined;
      }
    });
  }

  it('the co-signer reader: one HTTP request for concurrent Safe reads, eth_chainId once per endpoint', async () => {
    const reader = viemChainReader({ [CHAIN]: proxyUrl });
    seen.length = 0;
    const [x, y] = await Promise.all(safes.map((s) => reader.safeState(CHAIN, s.config.address, s.config)));
    expect(x).toMatchObject({ ok: true, value: { chainId: 31337n, nonce: 0n } });
    expect(y).toMatchObject({ ok: true, value: { nonce: 9n } });
    // blockNumber first, then every word of both Safes in one JSON-RPC batch (chain id, 5 fixed
    // words, the owners' and the modules' SENTINEL entries and every expected owner's entry),
    // then b's module entry: the module is not in its config, so it was not guessed.
    const words = 5 + 2 + w.owners.length;
    expect(seen.map((calls) => calls.length)).toEqual([1, 1 + 2 * words, 1]);
    expect(seen.flat().filter((m) => m === 'eth_call')).toHaveLength(0);
    seen.length = 0;
    expect(await reader.safeState(CHAIN, safes[0]!.config.address, safes[0]!.config)).toEqual(x);
    expect(seen.flat().filter((m) => m === 'eth_chainId')).toHaveLength(0);
    expect(seen.flat().filter((m) => m === 'eth_blockNumber')).toHaveLength(1);
  });

  it('an owner swapped behind the config: the hints are only guesses, the walk reads the live list', async () => {
    const safe = safes[0]!.config.address;
    const [first, second, third] = w.owners as [`0x${string}`, `0x${string}`, `0x${string}`];
    const intruder = getAddress('0x00000000000000000000000000000000000bad01');
    // SENTINEL → first → intruder → third → SENTINEL, the second owner's entry left behind.
    await setSlot(safe, ownerSlot(first), intruder);
    await setSlot(safe, ownerSlot(intruder), third);
    await w.anvil.mine();
    try {
      const at = await w.anvil.client.getBlockNumber();
      const expected = await reference(w.anvil.client, safe, at);
      expect(expected.owners).toEqual([first, intruder, third]);
      seen.length = 0;
      const r = await viemChainReader({ [CHAIN]: proxyUrl }).safeState(CHAIN, safe, safes[0]!.config);
      expect(r).toEqual({ ok: true, value: expected });
      expect(seen.length).toBe(3); // block number, the guessed batch, the intruder's entry
    } finally {
      await setSlot(safe, ownerSlot(first), second);
      await setSlot(safe, ownerSlot(intruder), 0n);
      await w.anvil.mine();
    }
  });

  it('fails closed with CHAIN_STATE_UNAVAILABLE when the node answers HTTP 500', async () => {
    const broken = createServer((_req, res) => res.writeHead(500).end('upstream down'));
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
      const r = await viemChainReader({ [CHAIN]: url }).safeState(CHAIN, safes[0]!.config.address);
      expect(r).toMatchObject({ ok: false, code: 'CHAIN_STATE_UNAVAILABLE' });
    } finally {
      await new Promise<void>((r) => broken.close(() => r()));
    }
  });

  it('fails closed with CHAIN_STATE_UNAVAILABLE when the node is unreachable', async () => {
    const r = await viemChainReader({ [CHAIN]: 'http://127.0.0.1:9' }, 2_000).safeState(
      CHAIN,
      safes[0]!.config.address,
    );
    expect(r).toMatchObject({ ok: false, code: 'CHAIN_STATE_UNAVAILABLE' });
  });
});
