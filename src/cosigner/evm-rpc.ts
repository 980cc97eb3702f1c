import { type Address, createPublicClient, getAddress, http, keccak256, parseAbi, toHex } from 'viem';
import type { HotChainState, SafeChainState } from '../core/chains/evm/index.ts';
import { fail, ok, type Result } from '../core/errors/base.ts';

/**
 * Chain state read from the co-signer's OWN RPC endpoint (configured per chain, never supplied by
 * the coordinator): the nonce a transaction must use and the Safe's live configuration, so a
 * coordinator cannot feed a stale nonce or hide a changed owner set, module or guard.
 */
export interface EvmChainReader {
  safeState(chain: string, safe: Address): Promise<Result<SafeChainState>>;
  hotState(chain: string, account: Address): Promise<Result<HotChainState>>;
}

const SAFE_ABI = parseAbi([
  'function nonce() view returns (uint256)',
  'function getOwners() view returns (address[])',
  'function getThreshold() view returns (uint256)',
  'function getModulesPaginated(address start, uint256 pageSize) view returns (address[] array, address next)',
]);
/** Safe storage slots (GuardManager / FallbackManager): keccak256 of the names. */
const GUARD_SLOT = keccak256(toHex('guard_manager.guard.address'));
const FALLBACK_SLOT = keccak256(toHex('fallback_manager.handler.address'));
const SENTINEL = '0x0000000000000000000000000000000000000001' as Address;

const slotAddress = (v: `0x${string}` | undefined): Address =>
  getAddress(`0x${(v ?? '0x0').slice(2).padStart(64, '0').slice(24)}`);

export function viemChainReader(
  rpcUrls: Record<string /* CAIP-2 */, string>,
  timeoutMs = 5_000,
): EvmChainReader {
  const clients = new Map<string, ReturnType<typeof createPublicClient>>();
  const client = (chain: string) => {
    const url = rpcUrls[chain];
    if (!url) return undefined;
    let c = clients.get(chain);
    if (!c) {
      c = createPublicClient({ transport: http(url, { timeout: timeoutMs, retryCount: 0 }) });
      clients.set(chain, c);
    }
    return c;
  };
  const guard = async <T>(chain: string, fn: (c: ReturnType<typeof createPublicClient>) => Promise<T>) => {
    const c = client(chain);
    if (!c) return fail('CHAIN_NOT_CONFIGURED', 'no RPC endpoint configured for this chain', { chain });
    try {
      return ok(await fn(c));
    } catch (e) {
      // Fail closed: no chain state, no signature (I6).
      return fail('CHAIN_STATE_UNAVAILABLE', 'could not read chain state from our RPC endpoint', {
        chain,
        error: e instanceof Error ? e.message.slice(0, 200) : String(e),
      });
    }
  };
  return {
    safeState: (chain, safe) =>
      guard(chain, async (c) => {
        const [chainId, nonce, owners, threshold, modules, slot0, g, fb] = await Promise.all([
          c.getChainId(),
          c.readContract({ address: safe, abi: SAFE_ABI, functionName: 'nonce' }),
          c.readContract({ address: safe, abi: SAFE_ABI, functionName: 'getOwners' }),
          c.readContract({ address: safe, abi: SAFE_ABI, functionName: 'getThreshold' }),
          c.readContract({
            address: safe,
            abi: SAFE_ABI,
            functionName: 'getModulesPaginated',
            args: [SENTINEL, 10n],
          }),
          c.getStorageAt({ address: safe, slot: '0x0' }),
          c.getStorageAt({ address: safe, slot: GUARD_SLOT }),
          c.getStorageAt({ address: safe, slot: FALLBACK_SLOT }),
        ]);
        return {
          chainId: BigInt(chainId),
          nonce,
          singleton: slotAddress(slot0),
          owners: owners.map((a) => getAddress(a)),
          threshold,
          modules: modules[0].map((a) => getAddress(a)),
          guard: slotAddress(g),
          fallbackHandler: slotAddress(fb),
        } satisfies SafeChainState;
      }),
    hotState: (chain, account) =>
      guard(chain, async (c) => {
        const [chainId, nonce] = await Promise.all([
          c.getChainId(),
          c.getTransactionCount({ address: account, blockTag: 'pending' }),
        ]);
        return { chainId: BigInt(chainId), nonce: BigInt(nonce) } satisfies HotChainState;
      }),
  };
}
