import {
  type Abi,
  type Account,
  type Chain,
  encodeFunctionData,
  getAddress,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  TransactionReceiptNotFoundError,
  type Transport,
  type WalletClient,
} from 'viem';
import type { Address } from '../core/chains/evm/types.ts';
import type { SafeWalletConfig } from '../core/chains/evm/wallet-config.ts';
import { CustosError } from '../core/errors/base.ts';
import { type DeployableSafeVersion, safeArtifact } from './artifacts.ts';
import { proxyFactoryAbi, safeAbi } from './safe-abi.ts';

/**
 * Safe deployment helpers for dev and test chains: singleton, L2 singleton, proxy factory and
 * fallback handler from the npm artifacts, then 2-of-3 (or any m-of-n) proxies. Production Safes
 * are deployed by the custodian's own procedure and only registered here by address.
 */
type Wallet = WalletClient<Transport, Chain, Account>;
type Client = PublicClient<Transport, Chain>;

export interface SafeInfrastructure {
  version: DeployableSafeVersion;
  singleton: Address;
  singletonL2: Address;
  factory: Address;
  fallbackHandler: Address;
}

/**
 * The receipt of a transaction sent to a dev chain, polled with eth_getTransactionReceipt every
 * 20 ms. viem's waitForTransactionReceipt watches block numbers and, against anvil's automine
 * after a few hundred blocks in quick succession, was seen to miss the block that holds the
 * transaction and wait out its 180 s timeout (bench e2e, 600 Safes).
 */
export async function receiptOf(client: Client, hash: Hex, timeoutMs = 60_000): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.getTransactionReceipt({ hash });
    } catch (e) {
      if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
    }
    if (Date.now() > deadline)
      throw new CustosError('DEPLOY_TIMEOUT', 'transaction not mined in time', { details: { hash } });
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function deployBytecode(
  wallet: Wallet,
  client: Client,
  abi: Abi,
  bytecode: Hex,
  args: unknown[] = [],
): Promise<Address> {
  const hash = await wallet.deployContract({ abi, bytecode, args } as Parameters<
    Wallet['deployContract']
  >[0]);
  const receipt = await receiptOf(client, hash);
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new CustosError('DEPLOY_FAILED', 'contract deployment reverted', { details: { hash } });
  }
  return getAddress(receipt.contractAddress);
}

export async function deploySafeInfrastructure(
  wallet: Wallet,
  client: Client,
  version: DeployableSafeVersion,
): Promise<SafeInfrastructure> {
  const d = (name: 'singleton' | 'singletonL2' | 'factory' | 'fallbackHandler') => {
    const a = safeArtifact(version, name);
    return deployBytecode(wallet, client, a.abi, a.bytecode);
  };
  // sequential: one account, one nonce sequence
  const singleton = await d('singleton');
  const singletonL2 = await d('singletonL2');
  const factory = await d('factory');
  const fallbackHandler = await d('fallbackHandler');
  return { version, singleton, singletonL2, factory, fallbackHandler };
}

/** Creates a Safe proxy with `owners`/`threshold`, no modules, no guard; returns its registered config. */
export async function createSafe(
  wallet: Wallet,
  client: Client,
  infra: SafeInfrastructure,
  opts: { owners: Address[]; threshold: number; l2?: boolean; saltNonce?: bigint },
): Promise<SafeWalletConfig> {
  const singleton = opts.l2 ? infra.singletonL2 : infra.singleton;
  const zero = '0x0000000000000000000000000000000000000000' as const;
  const initializer = encodeFunctionData({
    abi: safeAbi,
    functionName: 'setup',
    args: [opts.owners, BigInt(opts.threshold), zero, '0x', infra.fallbackHandler, zero, 0n, zero],
  });
  const saltNonce = opts.saltNonce ?? BigInt(Math.floor(Math.random() * 1e15));
  const { result, request } = await client.simulateContract({
    account: wallet.account,
    address: infra.factory,
    abi: proxyFactoryAbi,
    functionName: 'createProxyWithNonce',
    args: [singleton, initializer, saltNonce],
  });
  const hash = await wallet.writeContract(request);
  const receipt = await receiptOf(client, hash);
  if (receipt.status !== 'success') throw new CustosError('DEPLOY_FAILED', 'Safe proxy creation reverted');
  return {
    address: getAddress(result),
    version: opts.l2 ? `${infra.version}+L2` : infra.version,
    singleton,
    owners: opts.owners.map((o) => getAddress(o)),
    threshold: opts.threshold,
    modules: [],
    guard: zero,
    fallbackHandler: infra.fallbackHandler,
  };
}

/** The Safe packages' test ERC-20 ("TestToken"/TT, 18 decimals, 1e15 base units minted to the deployer). */
export async function deployTestErc20(wallet: Wallet, client: Client): Promise<Address> {
  const a = safeArtifact('1.4.1', 'erc20');
  return deployBytecode(wallet, client, a.abi, a.bytecode);
}
