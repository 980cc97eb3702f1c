import {
  type Chain,
  encodeAbiParameters,
  getAddress,
  keccak256,
  numberToHex,
  type PublicClient,
  type Transport,
} from 'viem';
import type { Address, Hex } from '../core/chains/evm/types.ts';
import type { HotChainState, SafeChainState } from '../core/chains/evm/wallet-config.ts';
import { CustosError } from '../core/errors/base.ts';
import { FALLBACK_HANDLER_STORAGE_SLOT, GUARD_STORAGE_SLOT, SAFE_SLOTS, SENTINEL } from './safe-abi.ts';

type Client = PublicClient<Transport, Chain>;

const slotAddress = (word: Hex | undefined): Address =>
  getAddress(`0x${(word ?? '0x').slice(2).padStart(64, '0').slice(24)}`);

/** Upper bound on a linked list's length (wallet config allows 50 owners): beyond it, garbage. */
const MAX_LIST = 256;

const mappingSlots = new Map<string, Hex>();
/** keccak256(abi.encode(key, slot)): the word of `mapping(address => address)` at `slot` for `key`. */
function mappingSlot(slot: bigint, key: Address): Hex {
  const id = `${slot}:${key.toLowerCase()}`;
  let s = mappingSlots.get(id);
  if (!s) {
    s = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [key, slot]));
    if (mappingSlots.size >= 10_000) mappingSlots.clear();
    mappingSlots.set(id, s);
  }
  return s;
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

/** An `eth_getStorageAt` result: hex of at most 32 bytes, left-padded to one word; else throws. */
function word(v: unknown, what: string): Hex {
  if (typeof v !== 'string' || v.length % 2 !== 0 || v.length > 66 || !/^0x[0-9a-fA-F]*$/.test(v))
    throw new CustosError('CHAIN_STATE_MALFORMED', `${what}: not one storage word`, {
      details: { value: String(v).slice(0, 80) },
    });
  return `0x${v.slice(2).padStart(64, '0')}`;
}

const ZERO = '0x0000000000000000000000000000000000000000';

/**
 * Follows one of the Safe's `mapping(address => address)` linked lists from SENTINEL back to
 * SENTINEL, as the getters do. A zero entry ends the modules list (getModulesPaginated stops
 * there) but breaks the owners list (getOwners would revert); a repeated entry or a list longer
 * than any Safe allows is garbage. Either way it throws, and the read fails closed.
 */
async function walk(
  next: (key: Address) => Promise<Address>,
  what: string,
  zeroEnds: boolean,
): Promise<Address[]> {
  const out: Address[] = [];
  const seen = new Set<string>();
  for (let k = await next(SENTINEL); ; k = await next(k)) {
    const lower = k.toLowerCase();
    if (lower === SENTINEL || (zeroEnds && lower === ZERO)) return out;
    if (lower === ZERO || seen.has(lower) || out.length >= MAX_LIST)
      throw new CustosError('CHAIN_STATE_MALFORMED', `${what}: not a list from the sentinel back to it`, {
        details: { entries: out.length, at: k },
      });
    seen.add(lower);
    out.push(k);
  }
}

/** The lists the caller expects (its wallet config): their entries are read in the first batch. */
export interface SafeListHints {
  owners: readonly Address[];
  modules: readonly Address[];
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
 * Reads a Safe's live configuration, all at one block, from the proxy's own storage (never
 * through a getter: a swapped implementation can lie through any getter — Bybit's did — not
 * through the proxy's storage; slot 0, the masterCopy, is what the caller checks first). With
 * `expect` (the wallet config's owners and modules), a matching Safe is read in ONE JSON-RPC
 * batch; a Safe whose lists differ costs one more round trip per unexpected entry. Used by the
 * co-signer against ITS OWN RPC endpoint. Storage words, not getters, also because a getter is
 * code the node must run (an `eth_call`, ~5× the node's CPU of a storage read on anvil).
 */
export function readSafeChainState(
  client: Client,
  safe: Address,
  blockNumber?: bigint,
  expect?: SafeListHints,
): Promise<SafeChainState> {
  return readSafeState(rpcOf(client), safe, blockNumber, expect);
}

/** {@link readSafeChainState} over any JSON-RPC function (the co-signer's batching one, evm-rpc.ts). */
export async function readSafeState(
  rpc: JsonRpc,
  safe: Address,
  blockNumber?: bigint,
  expect?: SafeListHints,
): Promise<SafeChainState> {
  const at = blockNumber ?? (await latestBlock(rpc));
  const tag = numberToHex(at);
  const slot = (s: Hex) => rpc('eth_getStorageAt', [safe, s, tag]);
  const readAll = async () => {
    // Speculative reads of the expected owners' and modules' list entries travel in the same
    // batch as the fixed slots; the walks below fetch any entry that was not guessed (a Safe
    // whose owners changed), one round trip per unexpected entry.
    const guessed = new Map<Hex, Promise<unknown>>();
    const guess = (k: Hex) => {
      if (guessed.has(k)) return;
      const p = slot(k);
      p.catch(() => undefined); // an entry the walk never reaches must not reject unhandled
      guessed.set(k, p);
    };
    for (const [mapping, keys] of [
      [SAFE_SLOTS.owners, expect?.owners ?? []],
      [SAFE_SLOTS.modules, expect?.modules ?? []],
    ] as const) {
      guess(mappingSlot(mapping, SENTINEL));
      for (const k of keys) guess(mappingSlot(mapping, k));
    }
    const [chainId, nonce, threshold, slot0, guard, fallbackHandler] = await Promise.all([
      rpc('eth_chainId'),
      slot(SAFE_SLOTS.nonce),
      slot(SAFE_SLOTS.threshold),
      slot(SAFE_SLOTS.singleton),
      slot(GUARD_STORAGE_SLOT),
      slot(FALLBACK_HANDLER_STORAGE_SLOT),
    ]);
    const entry = async (mapping: bigint, key: Address, what: string): Promise<Address> => {
      const k = mappingSlot(mapping, key);
      return slotAddress(word(await (guessed.get(k) ?? slot(k)), what));
    };
    // Decoded inside the try: a malformed answer fails like an unreachable node (I6).
    const state: SafeChainState = {
      chainId: quantity(chainId, 'eth_chainId'),
      nonce: BigInt(word(nonce, 'nonce slot')),
      singleton: slotAddress(word(slot0, 'slot 0')),
      // OwnerManager.getOwners: SENTINEL → o1 → … → SENTINEL; a zero entry is a broken list.
      owners: await walk((k) => entry(SAFE_SLOTS.owners, k, 'owners entry'), 'owners', false),
      threshold: BigInt(word(threshold, 'threshold slot')),
      // ModuleManager.getModulesPaginated: stops at SENTINEL or at an unset (zero) entry.
      modules: await walk((k) => entry(SAFE_SLOTS.modules, k, 'modules entry'), 'modules', true),
      guard: slotAddress(word(guard, 'guard slot')),
      fallbackHandler: slotAddress(word(fallbackHandler, 'fallback handler slot')),
    };
    return state;
  };
  let all: SafeChainState;
  try {
    all = await readAll();
  } catch (cause) {
    // A Safe whose storage was rewritten through a delegatecall (Bybit) may hold lists no
    // singleton would: report slot 0 with the failure so the caller sees why, and never proceed
    // without state (I6).
    const slot0 = await slot('0x0')
      .then((v) => slotAddress(word(v, 'slot 0')))
      .catch(() => undefined);
    throw new CustosError('CHAIN_STATE_UNAVAILABLE', 'could not read the Safe configuration', {
      cause,
      details: { safe, block: at.toString(), slot0: slot0 ?? 'unreadable' },
    });
  }
  return all;
}

/** Only the nonce slot, at the latest block (the coordinator's build; co-signers check it again). */
export async function readSafeNonce(client: Client, safe: Address): Promise<bigint> {
  return BigInt(
    word(await rpcOf(client)('eth_getStorageAt', [safe, SAFE_SLOTS.nonce, 'latest']), 'nonce slot'),
  );
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
