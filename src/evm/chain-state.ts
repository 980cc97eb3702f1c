import {
  type Chain,
  decodeAbiParameters,
  encodeFunctionData,
  getAddress,
  numberToHex,
  type PublicClient,
  type Transport,
} from 'viem';
import type { Address, Hex } from '../core/chains/evm/types.ts';
import type { HotChainState, SafeChainState } from '../core/chains/evm/wallet-config.ts';
import { CustosError } from '../core/errors/base.ts';
import { FALLBACK_HANDLER_STORAGE_SLOT, GUARD_STORAGE_SLOT, SENTINEL, safeAbi } from './safe-abi.ts';

type Client = PublicClient<Transport, Chain>;

const slotAddress = (word: Hex | undefined): Address =>
  getAddress(`0x${(word ?? '0x').slice(2).padStart(64, '0').slice(24)}`);

/**
 * The calldata of the Safe getters read below: constant, encoded once at module load (the reads
 * go straight to `eth_call` through the client's transport — one JSON-RPC batch per tick — and
 * skip viem's per-call action machinery; results are decoded with viem's ABI decoder).
 */
const CALLDATA = {
  nonce: encodeFunctionData({ abi: safeAbi, functionName: 'nonce' }),
  getOwners: encodeFunctionData({ abi: safeAbi, functionName: 'getOwners' }),
  getThreshold: encodeFunctionData({ abi: safeAbi, functionName: 'getThreshold' }),
  getModulesPaginated: encodeFunctionData({
    abi: safeAbi,
    functionName: 'getModulesPaginated',
    args: [SENTINEL, 50n],
  }),
} as const;

/** Return types of the getters decoded with viem's ABI decoder (the ABI's own output lists). */
const OUTPUTS = {
  getOwners: [{ type: 'address[]' }],
  getModulesPaginated: [{ type: 'address[]' }, { type: 'address' }],
} as const;

/** A `uint256` return value: exactly one 32-byte word (what the Safe getters return), else throws. */
function uint256(word: Hex, what: string): bigint {
  if (word.length !== 66)
    throw new CustosError('CHAIN_STATE_MALFORMED', `${what}: not one 32-byte word`, {
      details: { bytes: (word.length - 2) / 2 },
    });
  return BigInt(word);
}

/** One JSON-RPC call: resolves to its `result`, rejects on a transport or JSON-RPC error. */
export type JsonRpc = (method: string, params?: readonly unknown[]) => Promise<unknown>;

const rpcs = new WeakMap<Client, JsonRpc>();
/** The client's own request function (its transport: batching, timeout, retries as configured). */
function rpcOf(client: Client): JsonRpc {
  let rpc = rpcs.get(client);
  if (!rpc) {
    const request = client.request as (a: {
      method: string;
      params?: readonly unknown[];
    }) => Promise<unknown>;
    rpc = (method, params) => request(params ? { method, params } : { method });
    rpcs.set(client, rpc);
  }
  return rpc;
}

/** A JSON-RPC QUANTITY (hex, no leading zeros beyond "0x0") as a bigint; anything else throws. */
export function quantity(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || !/^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(v))
    throw new CustosError('CHAIN_STATE_MALFORMED', `${what}: not a JSON-RPC quantity`, {
      details: { value: String(v).slice(0, 80) },
    });
  return BigInt(v);
}

/** `eth_call` / `eth_getStorageAt` result: 0x-prefixed hex bytes; anything else throws. */
function data(v: unknown, what: string): Hex {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^0x[0-9a-fA-F]*$/.test(v))
    throw new CustosError('CHAIN_STATE_MALFORMED', `${what}: not hex data`, {
      details: { value: String(v).slice(0, 80) },
    });
  return v as Hex;
}

/**
 * Concurrent reads on one client share one in-flight `eth_blockNumber` (as viem's getBlockNumber
 * does): every Safe read in the same tick — a batch request's Safes — is then made at the same
 * block, with one call. Nothing is kept once it settled: the next read asks the node again.
 */
const inflightBlock = new WeakMap<JsonRpc, Promise<bigint>>();

function latestBlock(rpc: JsonRpc): Promise<bigint> {
  let p = inflightBlock.get(rpc);
  if (!p) {
    p = rpc('eth_blockNumber').then((v) => quantity(v, 'eth_blockNumber'));
    const clear = () => {
      if (inflightBlock.get(rpc) === p) inflightBlock.delete(rpc);
    };
    p.then(clear, clear);
    inflightBlock.set(rpc, p);
  }
  return p;
}

/**
 * Reads a Safe's live configuration, all at one block. The masterCopy is read from storage slot
 * 0 directly — a swapped implementation can lie through any getter (Bybit's did), not through
 * the proxy's own storage. Used by the co-signer against ITS OWN RPC endpoint.
 */
export function readSafeChainState(
  client: Client,
  safe: Address,
  blockNumber?: bigint,
): Promise<SafeChainState> {
  return readSafeState(rpcOf(client), safe, blockNumber);
}

/** {@link readSafeChainState} over any JSON-RPC function (the co-signer's batching one, evm-rpc.ts). */
export async function readSafeState(
  rpc: JsonRpc,
  safe: Address,
  blockNumber?: bigint,
): Promise<SafeChainState> {
  const at = blockNumber ?? (await latestBlock(rpc));
  const tag = numberToHex(at);
  const call = (input: Hex) => rpc('eth_call', [{ to: safe, data: input }, tag]);
  const slot = (s: Hex) => rpc('eth_getStorageAt', [safe, s, tag]);
  const readAll = async () => {
    const [chainId, nonce, owners, threshold, modules, slot0, guard, fallbackHandler] = await Promise.all([
      rpc('eth_chainId'),
      call(CALLDATA.nonce),
      call(CALLDATA.getOwners),
      call(CALLDATA.getThreshold),
      call(CALLDATA.getModulesPaginated),
      slot('0x0'),
      slot(GUARD_STORAGE_SLOT),
      slot(FALLBACK_HANDLER_STORAGE_SLOT),
    ]);
    // Decoded inside the try: a malformed answer fails like an unreachable node (I6).
    const state: SafeChainState = {
      chainId: quantity(chainId, 'eth_chainId'),
      nonce: uint256(data(nonce, 'nonce'), 'nonce'),
      singleton: slotAddress(data(slot0, 'slot 0')),
      owners: decodeAbiParameters(OUTPUTS.getOwners, data(owners, 'getOwners'))[0].map((o) => getAddress(o)),
      threshold: uint256(data(threshold, 'getThreshold'), 'getThreshold'),
      modules: decodeAbiParameters(OUTPUTS.getModulesPaginated, data(modules, 'getModulesPaginated'))[0].map(
        (m) => getAddress(m),
      ),
      guard: slotAddress(data(guard, 'guard slot')),
      fallbackHandler: slotAddress(data(fallbackHandler, 'fallback handler slot')),
    };
    return state;
  };
  let all: SafeChainState;
  try {
    all = await readAll();
  } catch (cause) {
    // A Safe whose slot 0 was swapped (Bybit) may no longer answer its getters at all: report
    // slot 0 with the failure so the caller sees why, and never proceed without state (I6).
    const slot0 = await slot('0x0')
      .then((v) => slotAddress(data(v, 'slot 0')))
      .catch(() => undefined);
    throw new CustosError('CHAIN_STATE_UNAVAILABLE', 'could not read the Safe configuration', {
      cause,
      details: { safe, block: at.toString(), slot0: slot0 ?? 'unreadable' },
    });
  }
  return all;
}

/** Only slot 0 (the watchtower reads it for every Safe touched in a block). */
export async function readSafeSingleton(
  client: Client,
  safe: Address,
  blockNumber: bigint,
): Promise<Address> {
  return slotAddress(await client.getStorageAt({ address: safe, slot: '0x0', blockNumber }));
}

export async function readHotChainState(client: Client, address: Address): Promise<HotChainState> {
  const [chainId, nonce] = await Promise.all([
    client.getChainId(),
    client.getTransactionCount({ address, blockTag: 'pending' }),
  ]);
  return { chainId: BigInt(chainId), nonce: BigInt(nonce) };
}
