import { type Chain, getAddress, type PublicClient, type Transport } from 'viem';
import type { Address, Hex } from '../core/chains/evm/types.ts';
import type { HotChainState, SafeChainState } from '../core/chains/evm/wallet-config.ts';
import { CustosError } from '../core/errors/base.ts';
import { FALLBACK_HANDLER_STORAGE_SLOT, GUARD_STORAGE_SLOT, SENTINEL, safeAbi } from './safe-abi.ts';

type Client = PublicClient<Transport, Chain>;

const slotAddress = (word: Hex | undefined): Address =>
  getAddress(`0x${(word ?? '0x').slice(2).padStart(64, '0').slice(24)}`);

/**
 * Reads a Safe's live configuration, all at one block. The masterCopy is read from storage slot
 * 0 directly — a swapped implementation can lie through any getter (Bybit's did), not through
 * the proxy's own storage. Used by the co-signer against ITS OWN RPC endpoint.
 */
export async function readSafeChainState(
  client: Client,
  safe: Address,
  blockNumber?: bigint,
): Promise<SafeChainState> {
  const at = blockNumber ?? (await client.getBlockNumber({ cacheTime: 0 }));
  const read = <T>(functionName: 'nonce' | 'getOwners' | 'getThreshold') =>
    client.readContract({ address: safe, abi: safeAbi, functionName, blockNumber: at }) as Promise<T>;
  const readAll = () =>
    Promise.all([
      client.getChainId(),
      read<bigint>('nonce'),
      read<readonly Address[]>('getOwners'),
      read<bigint>('getThreshold'),
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
  let all: Awaited<ReturnType<typeof readAll>>;
  try {
    all = await readAll();
  } catch (cause) {
    // A Safe whose slot 0 was swapped (Bybit) may no longer answer its getters at all: report
    // slot 0 with the failure so the caller sees why, and never proceed without state (I6).
    const slot0 = await client
      .getStorageAt({ address: safe, slot: '0x0', blockNumber: at })
      .catch(() => undefined);
    throw new CustosError('CHAIN_STATE_UNAVAILABLE', 'could not read the Safe configuration', {
      cause,
      details: { safe, block: at.toString(), slot0: slot0 === undefined ? 'unreadable' : slotAddress(slot0) },
    });
  }
  const [chainId, nonce, owners, threshold, modules, slot0, guard, fallbackHandler] = all;
  return {
    chainId: BigInt(chainId),
    nonce,
    singleton: slotAddress(slot0),
    owners: owners.map((o) => getAddress(o)),
    threshold,
    modules: modules[0].map((m) => getAddress(m)),
    guard: slotAddress(guard),
    fallbackHandler: slotAddress(fallbackHandler),
  };
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
