import type { Chain, PublicClient, Transport } from 'viem';
import { parseChainId } from '../core/chains/caip.ts';
import { safeStateFindings } from '../core/chains/evm/verify-safe.ts';
import type { SafeWallet } from '../core/chains/evm/wallet-config.ts';
import { fail, ok, type Result } from '../core/errors/base.ts';
import { readSafeChainState } from './chain-state.ts';
import { safeAbi } from './safe-abi.ts';

type Client = PublicClient<Transport, Chain>;

/**
 * Registration check for a Safe wallet proposal (T8): before admins sign a proposal that adds a
 * Safe, the coordinator shows whether the chain agrees with every field — right chain, the
 * registered singleton in slot 0, the owners, threshold, no modules, guard, fallback handler,
 * and the singleton's own VERSION() matching the version whose EIP-712 encoding co-signers use.
 */
export async function verifySafeRegistration(
  client: Client,
  wallet: SafeWallet,
): Promise<Result<undefined, 'CHAIN_MISMATCH' | 'WALLET_CONFIG_CHANGED' | 'SAFE_VERSION_MISMATCH'>> {
  const chain = parseChainId(wallet.chain, 'chain');
  const rpcChainId = BigInt(await client.getChainId());
  if (chain.namespace !== 'eip155' || chain.chainId !== rpcChainId) {
    return fail('CHAIN_MISMATCH', `RPC endpoint is chain ${rpcChainId}, wallet is ${wallet.chain}`);
  }
  const state = await readSafeChainState(client, wallet.config.address, undefined, wallet.config);
  const findings = safeStateFindings(wallet, state);
  if (findings.length > 0) return fail('WALLET_CONFIG_CHANGED', findings[0]!.message, findings[0]!.details);
  const onChain = await client.readContract({
    address: wallet.config.singleton,
    abi: safeAbi,
    functionName: 'VERSION',
  });
  const registered = wallet.config.version.replace(/\+L2$/, '');
  if (onChain !== registered) {
    return fail('SAFE_VERSION_MISMATCH', `singleton reports VERSION ${onChain}, registered ${registered}`, {
      onChain,
      registered,
    });
  }
  return ok();
}
