import { getAddress } from 'viem';
import { z } from 'zod';
import { InvalidInputError } from '../../errors/base.ts';
import { parseChainId } from '../caip.ts';
import { parseSafeVersion } from './safe-hash.ts';
import { zodToInput } from './safe-tx-schema.ts';
import type { Address } from './types.ts';

/**
 * The `config` of an EVM wallet record `{ id, chain, type, config }` (the governance
 * `WalletRecord`): what an admin quorum registered and what every co-signer and the watchtower
 * compare the chain against. Addresses must be EIP-55 checksummed (a lowercase or mis-cased
 * address is a typo or a tampered copy and is refused, never repaired).
 */
const checksummed = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x address')
  .refine((a) => getAddress(a) === a, 'must be in EIP-55 checksum form')
  .transform((a) => a as Address);

export const safeWalletConfigSchema = z
  .object({
    address: checksummed,
    /** e.g. "1.3.0", "1.4.1+L2": selects the EIP-712 encoding and the expected events. */
    version: z.string().refine((v) => {
      try {
        parseSafeVersion(v);
        return true;
      } catch {
        return false;
      }
    }, 'must be a supported Safe version like 1.3.0 or 1.4.1+L2'),
    /** masterCopy: the implementation address the proxy must hold in storage slot 0. */
    singleton: checksummed,
    owners: z.array(checksummed).min(1).max(50),
    threshold: z.number().int().min(1),
    /**
     * Always empty: an enabled module executes transactions with no owner signature at all
     * (execTransactionFromModule), which would bypass every co-signer.
     */
    modules: z.array(checksummed).max(0, 'modules bypass owner signatures and are not allowed'),
    /** zero address when no guard is set */
    guard: checksummed,
    fallbackHandler: checksummed,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.threshold > c.owners.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: 'threshold exceeds the number of owners',
      });
    }
    const lower = c.owners.map((o) => o.toLowerCase());
    if (new Set(lower).size !== lower.length) {
      ctx.addIssue({ code: 'custom', path: ['owners'], message: 'duplicate owner' });
    }
  });

export const hotWalletConfigSchema = z.object({ address: checksummed }).strict();

export type SafeWalletConfig = z.infer<typeof safeWalletConfigSchema>;
export type HotWalletConfig = z.infer<typeof hotWalletConfigSchema>;

export interface SafeWallet {
  id: string;
  chain: string;
  type: 'safe';
  config: SafeWalletConfig;
}
export interface HotWallet {
  id: string;
  chain: string;
  type: 'evm-hot';
  config: HotWalletConfig;
}
export type EvmWallet = SafeWallet | HotWallet;

/** Validates the config of an EVM wallet record; throws {@link InvalidInputError} naming the field. */
export function parseEvmWalletConfig(type: 'safe', config: unknown): SafeWalletConfig;
export function parseEvmWalletConfig(type: 'evm-hot', config: unknown): HotWalletConfig;
export function parseEvmWalletConfig(type: string, config: unknown): SafeWalletConfig | HotWalletConfig;
export function parseEvmWalletConfig(type: string, config: unknown): SafeWalletConfig | HotWalletConfig {
  const schema =
    type === 'safe' ? safeWalletConfigSchema : type === 'evm-hot' ? hotWalletConfigSchema : undefined;
  if (!schema) throw new InvalidInputError('UNKNOWN_WALLET_TYPE', 'type', `not an EVM wallet type: ${type}`);
  const r = schema.safeParse(config);
  if (!r.success) {
    const e = zodToInput(r.error, 'INVALID_WALLET_CONFIG');
    throw new InvalidInputError(e.code, `config.${e.field}`, e.shortMessage);
  }
  return r.data;
}

/** Validates a whole EVM wallet record (`chain` must be an eip155 CAIP-2 id). */
export function parseEvmWallet(record: {
  id: string;
  chain: string;
  type: string;
  config: unknown;
}): EvmWallet {
  const chain = parseChainId(record.chain, 'chain');
  if (chain.namespace !== 'eip155') throw new InvalidInputError('INVALID_CHAIN', 'chain', 'not an EVM chain');
  if (record.type === 'safe') {
    return {
      id: record.id,
      chain: record.chain,
      type: 'safe',
      config: parseEvmWalletConfig('safe', record.config),
    };
  }
  return {
    id: record.id,
    chain: record.chain,
    type: 'evm-hot',
    config: parseEvmWalletConfig('evm-hot', record.config),
  };
}

/** What the co-signer reads from its OWN RPC endpoint for a Safe (never from the coordinator). */
export interface SafeChainState {
  chainId: bigint;
  nonce: bigint;
  /** storage slot 0 of the proxy (masterCopy), as an address */
  singleton: Address;
  owners: Address[];
  threshold: bigint;
  modules: Address[];
  guard: Address;
  fallbackHandler: Address;
}

/** What the co-signer reads for a hot wallet. */
export interface HotChainState {
  chainId: bigint;
  /** pending nonce of the hot wallet address */
  nonce: bigint;
}

/** Asset registry entry (decimals are for display; every amount check is in base units). */
export interface EvmAssetInfo {
  caip19: string;
  decimals: number;
  symbol?: string;
}
export interface AssetRegistry {
  get(caip19: string): EvmAssetInfo | undefined;
}
