import { Address as BtcAddress, NETWORK, TEST_NETWORK } from '@scure/btc-signer';
import { getAddress } from 'viem';
import { InvalidInputError } from '../errors/base.ts';
import type { BitcoinNetworkName, ChainId } from './caip.ts';

/** btc-signer network parameters for each Bitcoin network Custos knows (BIP 173 hrps, base58 versions). */
export function bitcoinNetwork(name: BitcoinNetworkName): typeof NETWORK {
  if (name === 'mainnet') return NETWORK;
  if (name === 'regtest') return { ...TEST_NETWORK, bech32: 'bcrt' };
  return TEST_NETWORK; // testnet, testnet4 and signet share tb / m,n / 2 prefixes
}

/**
 * Validates a destination for its chain and returns it unchanged.
 *
 * EVM: the EIP-55 mixed-case checksum form is required. An all-lowercase address carries no
 * checksum and a wrong-case one means a typo or a tampered copy: both are refused, never repaired.
 * Bitcoin: base58check (P2PKH, P2SH) or bech32/bech32m (BIP 173/350) with the network's prefix.
 */
export function validateAddress(chain: ChainId, address: string, field = 'destination'): string {
  if (chain.namespace === 'eip155') {
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
      throw new InvalidInputError('INVALID_ADDRESS', field, 'not a 20-byte hex address', {
        details: { address },
      });
    }
    const checksummed = getAddress(address);
    if (checksummed !== address) {
      throw new InvalidInputError('ADDRESS_CHECKSUM', field, 'address is not in EIP-55 checksum form', {
        details: { address, expected: checksummed },
      });
    }
    return address;
  }
  // BIP 173 lets a bech32 address be written all upper-case (for QR codes). One destination must
  // have one spelling (the digest, address-book matching and look-alike checks compare text), so
  // only the lower-case form is accepted; the requester lower-cases before signing.
  if (/^(bc|tb|bcrt)1/i.test(address) && address !== address.toLowerCase()) {
    throw new InvalidInputError('NON_CANONICAL_ADDRESS', field, 'bech32 addresses must be lower-case', {
      details: { address },
    });
  }
  try {
    // Refuses witness versions 2–16 too (no spending rules yet: funds sent there are not safe).
    BtcAddress(bitcoinNetwork(chain.network)).decode(address);
  } catch (cause) {
    throw new InvalidInputError('INVALID_ADDRESS', field, `not a valid ${chain.network} Bitcoin address`, {
      cause,
      details: { address },
    });
  }
  return address;
}
