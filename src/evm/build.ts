import {
  type Chain,
  encodeFunctionData,
  erc20Abi,
  type PublicClient,
  serializeTransaction,
  type Transport,
} from 'viem';
import { parseAssetId, parseChainId } from '../core/chains/caip.ts';
import type { Address, Hex, SafeTxFields } from '../core/chains/evm/types.ts';
import { ZERO_ADDRESS } from '../core/chains/evm/types.ts';
import type { HotWallet, SafeWallet } from '../core/chains/evm/wallet-config.ts';
import { CustosError } from '../core/errors/base.ts';
import type { Intent } from '../core/intent/schema.ts';
import { readSafeNonce } from './chain-state.ts';

type Client = PublicClient<Transport, Chain>;

/** The call an intent asks for: ETH → (destination, amount, 0x); ERC-20 → (token, 0, transfer(destination, amount)). */
export function transferCall(intent: Intent): { to: Address; value: bigint; data: Hex } {
  const asset = parseAssetId(intent.asset, 'asset');
  const amount = BigInt(intent.amount);
  if (asset.kind === 'native') return { to: intent.destination as Address, value: amount, data: '0x' };
  if (asset.kind !== 'erc20') throw new CustosError('ASSET_MISMATCH', 'not an EVM asset');
  return {
    to: asset.contract,
    value: 0n,
    data: encodeFunctionData({
      abi: erc20Abi,
      functionName: 'transfer',
      args: [intent.destination as Address, amount],
    }),
  };
}

/**
 * The intent, the wallet and the RPC endpoint must be one chain. `rpcChainId` is the endpoint's
 * eth_chainId when the caller already read it (it cannot change for a process's endpoint without
 * the co-signers, who read their own endpoints, refusing); otherwise it is read here.
 */
async function assertChain(
  client: Client,
  intent: Intent,
  walletChain: string,
  rpcChainId?: bigint,
): Promise<bigint> {
  const chain = parseChainId(intent.chain, 'chain');
  if (chain.namespace !== 'eip155' || intent.chain !== walletChain) {
    throw new CustosError('CHAIN_MISMATCH', 'intent and wallet are on different chains');
  }
  const rpc = rpcChainId ?? BigInt(await client.getChainId());
  if (rpc !== chain.chainId)
    throw new CustosError('CHAIN_MISMATCH', `RPC endpoint is chain ${rpc}, intent is ${chain.chainId}`);
  return rpc;
}

/**
 * Coordinator: the Safe transaction for an intent — operation 0 (CALL), every gas/refund field
 * zero, nonce read from the chain. Co-signers recompute and check all of it themselves.
 */
export async function buildSafeTransfer(
  intent: Intent,
  wallet: SafeWallet,
  client: Client,
  rpcChainId?: bigint,
): Promise<SafeTxFields> {
  await assertChain(client, intent, wallet.chain, rpcChainId);
  // From the proxy's storage, as the co-signers read it: a fifth of the getter's node CPU.
  const nonce = await readSafeNonce(client, wallet.config.address);
  return {
    ...transferCall(intent),
    operation: 0,
    safeTxGas: 0n,
    baseGas: 0n,
    gasPrice: 0n,
    gasToken: ZERO_ADDRESS,
    refundReceiver: ZERO_ADDRESS,
    nonce,
  };
}

export interface BuiltHotTransfer {
  unsignedTx: Hex;
  nonce: bigint;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/**
 * Coordinator: an unsigned EIP-1559 transaction for a hot-wallet intent. `maxFee` (wei; default
 * the intent's `maxFee`) bounds gas × maxFeePerGas; when the current base fee cannot fit under
 * it the build fails with FEE_ABOVE_MAX instead of producing a transaction the co-signer refuses.
 */
export async function buildHotTransfer(
  intent: Intent,
  wallet: HotWallet,
  client: Client,
  maxFee: bigint | undefined = intent.maxFee === undefined ? undefined : BigInt(intent.maxFee),
  rpcChainId?: bigint,
): Promise<BuiltHotTransfer> {
  const chainId = await assertChain(client, intent, wallet.chain, rpcChainId);
  if (maxFee === undefined) throw new CustosError('FEE_ABOVE_MAX', 'a hot-wallet transfer needs a maxFee');
  const call = transferCall(intent);
  const from = wallet.config.address;
  const [nonce, gas, block, tip] = await Promise.all([
    client.getTransactionCount({ address: from, blockTag: 'pending' }),
    client.estimateGas({ account: from, to: call.to, value: call.value, data: call.data }),
    client.getBlock({ blockTag: 'latest' }),
    client.estimateMaxPriorityFeePerGas().catch(() => 1_000_000_000n),
  ]);
  const baseFee = block.baseFeePerGas ?? 0n;
  const cap = maxFee / gas;
  if (cap < baseFee) {
    throw new CustosError('FEE_ABOVE_MAX', 'current base fee does not fit under maxFee', {
      details: { baseFee: baseFee.toString(), gas: gas.toString(), maxFee: maxFee.toString() },
    });
  }
  const wanted = baseFee * 2n + tip;
  const maxFeePerGas = wanted < cap ? wanted : cap;
  const maxPriorityFeePerGas = tip < maxFeePerGas - baseFee ? tip : maxFeePerGas - baseFee;
  const unsignedTx = serializeTransaction({
    type: 'eip1559',
    chainId: Number(chainId),
    nonce,
    to: call.to,
    value: call.value,
    data: call.data === '0x' ? undefined : call.data,
    gas,
    maxFeePerGas,
    maxPriorityFeePerGas,
  });
  return { unsignedTx, nonce: BigInt(nonce), gas, maxFeePerGas, maxPriorityFeePerGas };
}
