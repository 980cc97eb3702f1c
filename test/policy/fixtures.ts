import { getAddress } from 'viem';
import type { Intent } from '../../src/core/intent/schema.ts';
import type { EvalContext } from '../../src/core/policy/evaluate.ts';
import { loadPolicy, type Policy } from '../../src/core/policy/load.ts';
import type { AddressBookEntry } from '../../src/core/policy/types.ts';

export const ETH_CHAIN = 'eip155:1';
export const ETH = 'eip155:1/slip44:60';
export const USDT = 'eip155:1/erc20:0xdAC17F958D2ee523a2206206994597C13D831ec7';
export const BTC_CHAIN = 'bip122:000000000019d6689c085ae165831e93';
export const BTC = 'bip122:000000000019d6689c085ae165831e93/slip44:0';
export const NOW = '2026-03-04T10:00:00Z'; // a Wednesday

export const ASSETS = {
  [ETH]: { symbol: 'ETH', decimals: 18 },
  [USDT]: { symbol: 'USDT', decimals: 6 },
  [BTC]: { symbol: 'BTC', decimals: 8 },
};

/** Deterministic EIP-55 addresses: evmAddress(1) = 0x00…01 style but with varied digits. */
export function evmAddress(n: number): `0x${string}` {
  const hex = (BigInt(n) * 0x9e3779b97f4a7c15f39cc0605cedc835n + 0x1234567n)
    .toString(16)
    .padStart(40, '0')
    .slice(-40);
  return getAddress(`0x${hex}`);
}

export const KRAKEN = evmAddress(1);
export const CUSTOMER = evmAddress(2);
export const STRANGER = evmAddress(3);
export const BTC_COLD = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';

export function intent(over: Partial<Intent> = {}): Intent {
  return {
    version: 1,
    id: '7b0b0f7e-5f0a-4d6b-9c57-2f4f7c1e8a11',
    chain: ETH_CHAIN,
    asset: ETH,
    wallet: 'hot-1',
    destination: KRAKEN,
    amount: '1000000000000000000',
    reference: 'test',
    requestedBy: 'svc-backoffice',
    createdAt: '2026-03-04T09:59:00Z',
    expiresAt: '2026-03-04T11:00:00Z',
    ...over,
  };
}

export function entry(over: Partial<AddressBookEntry> = {}): AddressBookEntry {
  return {
    chain: ETH_CHAIN,
    address: KRAKEN,
    label: 'Kraken hot',
    category: 'exchange',
    status: 'active',
    addedAt: '2026-01-01T00:00:00Z',
    activeFrom: '2026-01-02T00:00:00Z',
    ...over,
  };
}

export const BOOK: AddressBookEntry[] = [
  entry(),
  entry({ address: CUSTOMER, label: 'ACME Corp', category: 'customer', owner: 'cust-42' }),
  entry({ chain: BTC_CHAIN, address: BTC_COLD, label: 'Cold vault', category: 'cold-storage' }),
];

export function ctx(over: Partial<EvalContext> = {}): EvalContext {
  return {
    now: NOW,
    requester: { id: 'svc-backoffice', roles: ['service'] },
    addressBook: BOOK,
    ledger: [],
    screening: 'clear',
    assets: ASSETS,
    ...over,
  };
}

/** A policy from YAML lines under a fixed header (rules and limits given by the test). */
export function policy(body: string, header = ''): Policy {
  return loadPolicy(`version: 1\nname: test\n${header}${body}`, 'test.yaml');
}
