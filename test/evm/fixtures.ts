import { encodeFunctionData, erc20Abi, getAddress } from 'viem';
import type { Address, SafeTxFields } from '../../src/core/chains/evm/types.ts';
import type { AssetRegistry, SafeChainState, SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import type { Intent } from '../../src/core/intent/schema.ts';

/** Shared fixtures for the pure verifier tests (no chain). */
export const CHAIN = 'eip155:31337';
export const SAFE = getAddress('0x1111111111111111111111111111111111111111');
export const TOKEN = getAddress('0x2222222222222222222222222222222222222222');
export const DEST = getAddress('0x3333333333333333333333333333333333333333');
export const ATTACKER = getAddress('0x4444444444444444444444444444444444444444');
export const SINGLETON = getAddress('0x41675C099F32341bf84BFc5382aF534df5C7461a');
export const OWNERS = [
  getAddress('0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
  getAddress('0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'),
  getAddress('0xcccccccccccccccccccccccccccccccccccccccc'),
];
export const FALLBACK = getAddress('0xfd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99');
export const ZERO = '0x0000000000000000000000000000000000000000' as Address;

export const wallet: SafeWallet = {
  id: 'treasury-safe',
  chain: CHAIN,
  type: 'safe',
  config: {
    address: SAFE,
    version: '1.4.1',
    singleton: SINGLETON,
    owners: OWNERS,
    threshold: 2,
    modules: [],
    guard: ZERO,
    fallbackHandler: FALLBACK,
  },
};

export const state: SafeChainState = {
  chainId: 31337n,
  nonce: 7n,
  singleton: SINGLETON,
  owners: [...OWNERS].reverse(),
  threshold: 2n,
  modules: [],
  guard: ZERO,
  fallbackHandler: FALLBACK,
};

export const assets: AssetRegistry = new Map([
  [`${CHAIN}/slip44:60`, { caip19: `${CHAIN}/slip44:60`, decimals: 18, symbol: 'ETH' }],
  [`${CHAIN}/erc20:${TOKEN}`, { caip19: `${CHAIN}/erc20:${TOKEN}`, decimals: 18, symbol: 'TT' }],
]);

export function intent(over: Partial<Intent> = {}): Intent {
  return {
    version: 1,
    id: '0b5f4a8e-4f3a-4c65-9a55-7a6c2d1e9f10',
    chain: CHAIN,
    asset: `${CHAIN}/slip44:60`,
    wallet: 'treasury-safe',
    destination: DEST,
    amount: '1000000000000000000',
    reference: 'W-1',
    requestedBy: 'svc-backoffice',
    createdAt: '2026-01-01T00:00:00Z',
    expiresAt: '2026-01-02T00:00:00Z',
    ...over,
  };
}

export function safeTx(over: Partial<SafeTxFields> = {}): SafeTxFields {
  return {
    to: DEST,
    value: 10n ** 18n,
    data: '0x',
    operation: 0,
    safeTxGas: 0n,
    baseGas: 0n,
    gasPrice: 0n,
    gasToken: ZERO,
    refundReceiver: ZERO,
    nonce: 7n,
    ...over,
  };
}

export const erc20Transfer = (to: Address, amount: bigint) =>
  encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [to, amount] });
