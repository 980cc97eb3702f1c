/** Valid intents used across the intent tests (one per chain family). */
export const EVM_NATIVE = {
  version: 1,
  id: '3b241101-e2bb-4255-8caf-4136c566a962',
  chain: 'eip155:1',
  asset: 'eip155:1/slip44:60',
  wallet: 'hot-1',
  // EIP-55 example address (from the EIP's test cases).
  destination: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  amount: '1000000000000000000',
  reference: 'withdrawal 42',
  requestedBy: 'svc-backoffice',
  createdAt: '2026-01-31T12:00:00Z',
  expiresAt: '2026-01-31T13:00:00Z',
};

export const ERC20 = {
  ...EVM_NATIVE,
  asset: 'eip155:1/erc20:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48',
  amount: '250000000',
  maxFee: '3000000000000000',
};

export const BTC = {
  ...EVM_NATIVE,
  chain: 'bip122:000000000019d6689c085ae165831e93',
  asset: 'bip122:000000000019d6689c085ae165831e93/slip44:0',
  destination: 'bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv',
  amount: '150000',
};

export const BITCOIN_CHAINS: Record<string, string> = {
  main: 'bip122:000000000019d6689c085ae165831e93',
  test: 'bip122:000000000933ea01ad0ee984209779ba',
  testnet4: 'bip122:00000000da84f2bafbbc53dee25a72ae',
  signet: 'bip122:00000008819873e925422c1ff0f99f7c',
  regtest: 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328',
};
