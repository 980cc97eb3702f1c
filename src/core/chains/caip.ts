import { InvalidInputError } from '../errors/base.ts';

/**
 * CAIP-2 chain ids and CAIP-19 asset ids, limited to the namespaces Custos signs for.
 * https://github.com/ChainAgnostic/CAIPs/blob/main/CAIPs/caip-2.md and caip-19.md
 */

/** Bitcoin networks by the first 16 bytes (32 hex chars) of their genesis block hash (CAIP-2 bip122). */
export const BITCOIN_NETWORKS = {
  '000000000019d6689c085ae165831e93': 'mainnet',
  '000000000933ea01ad0ee984209779ba': 'testnet',
  '00000000da84f2bafbbc53dee25a72ae': 'testnet4',
  '00000008819873e925422c1ff0f99f7c': 'signet',
  '0f9188f13cb7b2c71f2a335e3a4fc328': 'regtest',
} as const;

export type BitcoinNetworkName = (typeof BITCOIN_NETWORKS)[keyof typeof BITCOIN_NETWORKS];

export type ChainId =
  | { namespace: 'eip155'; reference: string; chainId: bigint; caip2: string }
  | { namespace: 'bip122'; reference: string; network: BitcoinNetworkName; caip2: string };

export type AssetId =
  | { chain: ChainId; kind: 'native'; caip19: string }
  | { chain: ChainId; kind: 'erc20'; contract: `0x${string}`; caip19: string };

const EIP155_RE = /^eip155:([1-9][0-9]{0,19})$/;
const BIP122_RE = /^bip122:([0-9a-f]{32})$/;

export function parseChainId(value: string, field = 'chain'): ChainId {
  let m = EIP155_RE.exec(value);
  if (m) {
    const chainId = BigInt(m[1]!);
    // EIP-2294 bounds chain ids to 2^64 - 1 in practice; refuse anything above.
    if (chainId > 0xffffffffffffffffn)
      throw new InvalidInputError('INVALID_CHAIN', field, 'EVM chain id too large');
    return { namespace: 'eip155', reference: m[1]!, chainId, caip2: value };
  }
  m = BIP122_RE.exec(value);
  if (m) {
    const network = BITCOIN_NETWORKS[m[1]! as keyof typeof BITCOIN_NETWORKS];
    if (!network) throw new InvalidInputError('UNKNOWN_CHAIN', field, `unknown Bitcoin network ${m[1]}`);
    return { namespace: 'bip122', reference: m[1]!, network, caip2: value };
  }
  throw new InvalidInputError(
    'INVALID_CHAIN',
    field,
    'not a supported CAIP-2 chain id (eip155:<n> or bip122:<genesis>)',
    {
      details: { value },
    },
  );
}

/**
 * Native coins use SLIP-44 coin types: 60 for ETH on every EVM chain, 0 for Bitcoin mainnet and 1 for
 * the Bitcoin test networks (SLIP-44: "Testnet (all coins)").
 */
export function parseAssetId(value: string, field = 'asset'): AssetId {
  const slash = value.indexOf('/');
  if (slash < 0)
    throw new InvalidInputError('INVALID_ASSET', field, 'not a CAIP-19 asset id', { details: { value } });
  const chain = parseChainId(value.slice(0, slash), field);
  const rest = value.slice(slash + 1);
  if (chain.namespace === 'eip155') {
    if (rest === 'slip44:60') return { chain, kind: 'native', caip19: value };
    const m = /^erc20:(0x[0-9a-fA-F]{40})$/.exec(rest);
    if (m) return { chain, kind: 'erc20', contract: m[1] as `0x${string}`, caip19: value };
  } else {
    const coinType = chain.network === 'mainnet' ? 'slip44:0' : 'slip44:1';
    if (rest === coinType) return { chain, kind: 'native', caip19: value };
  }
  throw new InvalidInputError('INVALID_ASSET', field, `unsupported asset for ${chain.caip2}`, {
    details: { value },
  });
}
