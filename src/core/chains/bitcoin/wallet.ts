import { z } from 'zod';
import { InvalidInputError } from '../../errors/base.ts';
import { type BitcoinNetworkName, parseChainId } from '../caip.ts';
import { type DescriptorKey, type DescriptorKind, parseDescriptor } from './descriptor/parse.ts';
import { BitcoinInputError } from './errors.ts';

/**
 * `config` of a `{ type: 'bitcoin-descriptor' }` wallet record. Either one BIP 389 multipath
 * descriptor (`/<0;1>/*`: branch 0 receive, branch 1 change) or two descriptors that differ only in
 * the branch step. Parsed strictly: unknown fields are refused, never dropped.
 */
export const bitcoinWalletConfigSchema = z
  .object({
    network: z.enum(['mainnet', 'testnet', 'testnet4', 'signet', 'regtest']),
    descriptor: z.string().min(1).max(4096).optional(),
    receiveDescriptor: z.string().min(1).max(4096).optional(),
    changeDescriptor: z.string().min(1).max(4096).optional(),
    /** Co-signers refuse a PSBT paying more than this many sat/vB (fee siphon, T7). */
    feeRateCeilingSatVb: z.number().positive().max(100_000),
    /** Addresses scanned past the last used one (watch-only import range). */
    gapLimit: z.int().min(1).max(10_000).default(100),
    /**
     * Highest derivation index accepted for inputs and change. Change sent to index 2^31-1 is
     * provably ours but no scanner would ever look there: funds silently stranded.
     */
    maxIndex: z.int().min(1).max(0x7fffffff).default(1_000_000),
    /** Outputs below this are dust: never created as change (Bitcoin Core's 3 sat/vB relay rule). */
    dustLimitSat: z.int().min(0).max(100_000).default(546),
    /**
     * Optional restatement of the multisig threshold for tools that route to co-signers without
     * parsing descriptors; when present it must equal the descriptor's k (a mismatch is refused).
     */
    threshold: z.int().min(1).max(20).optional(),
  })
  .strict()
  .refine(
    (c) =>
      (c.descriptor !== undefined) !==
      (c.receiveDescriptor !== undefined || c.changeDescriptor !== undefined),
    'give either descriptor (multipath) or receiveDescriptor + changeDescriptor',
  )
  .refine(
    (c) =>
      c.descriptor !== undefined || (c.receiveDescriptor !== undefined && c.changeDescriptor !== undefined),
    'receiveDescriptor and changeDescriptor go together',
  );

export type BitcoinWalletConfig = z.input<typeof bitcoinWalletConfigSchema>;

export interface WalletKey {
  fingerprint: number;
  originPath: number[];
  xpub: string;
  hd: DescriptorKey['hd'];
  /** Steps after the xpub for [receive, change]. */
  receiveSteps: number[];
  changeSteps: number[];
}

/** A parsed wallet: what verification, building and watching need. */
export interface BitcoinWallet {
  kind: DescriptorKind;
  network: BitcoinNetworkName;
  threshold: number;
  keys: WalletKey[];
  feeRateCeilingSatVb: number;
  gapLimit: number;
  maxIndex: number;
  dustLimitSat: number;
  /** Canonical text of the receive and change descriptors (with checksums). */
  descriptors: { receive: string; change: string };
}

/**
 * Parsed wallets by their config text: derivations are memoized per parsed wallet object, so a
 * co-signer that passes the same config on every request keeps its derivation cache.
 */
const parsedCache = new Map<string, BitcoinWallet>();

/** Parses and validates a wallet `config` (throws {@link InvalidInputError} / {@link BitcoinInputError}). */
export function parseBitcoinWallet(config: unknown, field = 'config'): BitcoinWallet {
  const key = `${field}\u0000${JSON.stringify(config)}`;
  const hit = parsedCache.get(key);
  if (hit) return hit;
  const w = parseUncached(config, field);
  if (parsedCache.size >= 64) parsedCache.clear();
  parsedCache.set(key, w);
  return w;
}

function parseUncached(config: unknown, field: string): BitcoinWallet {
  const parsed = bitcoinWalletConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = [field, ...issue.path].join('.');
    throw new InvalidInputError(
      issue.code === 'unrecognized_keys' ? 'UNKNOWN_FIELD' : 'INVALID_WALLET',
      path,
      `${path}: ${issue.message}`,
    );
  }
  const c = parsed.data;
  let kind: DescriptorKind;
  let threshold: number;
  let keys: WalletKey[];
  if (c.descriptor !== undefined) {
    const d = parseDescriptor(c.descriptor, c.network);
    if (d.branches !== 2)
      throw new BitcoinInputError(
        'DESCRIPTOR_NOT_MULTIPATH',
        'a single descriptor must be multipath /<0;1>/* (receive;change)',
      );
    kind = d.kind;
    threshold = d.threshold;
    keys = d.keys.map((k) => ({
      ...base(k),
      receiveSteps: k.branchSteps[0]!,
      changeSteps: k.branchSteps[1]!,
    }));
  } else {
    const r = parseDescriptor(c.receiveDescriptor!, c.network);
    const ch = parseDescriptor(c.changeDescriptor!, c.network);
    if (r.branches !== 1 || ch.branches !== 1)
      throw new BitcoinInputError('DESCRIPTOR_INVALID', 'receive/change descriptors must not be multipath');
    if (r.kind !== ch.kind || r.threshold !== ch.threshold || r.keys.length !== ch.keys.length)
      throw new BitcoinInputError('DESCRIPTOR_BRANCH_MISMATCH', 'receive and change descriptors differ');
    kind = r.kind;
    threshold = r.threshold;
    keys = r.keys.map((k, i) => {
      const o = ch.keys[i]!;
      if (
        o.xpub !== k.xpub ||
        o.fingerprint !== k.fingerprint ||
        o.originPath.join('/') !== k.originPath.join('/')
      )
        throw new BitcoinInputError('DESCRIPTOR_BRANCH_MISMATCH', 'receive and change use different keys', {
          details: { key: i },
        });
      return { ...base(k), receiveSteps: k.branchSteps[0]!, changeSteps: o.branchSteps[0]! };
    });
  }
  if (c.threshold !== undefined && c.threshold !== threshold)
    throw new InvalidInputError(
      'THRESHOLD_MISMATCH',
      `${field}.threshold`,
      'threshold differs from the descriptor',
      {
        details: { config: c.threshold, descriptor: threshold },
      },
    );
  // The two branches must differ: otherwise "change" would be indistinguishable from receive addresses.
  if (keys.some((k) => k.receiveSteps.join('/') === k.changeSteps.join('/')))
    throw new BitcoinInputError('DESCRIPTOR_BRANCH_MISMATCH', 'receive and change branches are the same');
  return {
    kind,
    network: c.network,
    threshold,
    keys,
    feeRateCeilingSatVb: c.feeRateCeilingSatVb,
    gapLimit: c.gapLimit,
    maxIndex: c.maxIndex,
    dustLimitSat: c.dustLimitSat,
    descriptors: c.descriptor
      ? { receive: c.descriptor, change: c.descriptor }
      : { receive: c.receiveDescriptor!, change: c.changeDescriptor! },
  };
}

function base(k: DescriptorKey) {
  return { fingerprint: k.fingerprint, originPath: k.originPath, xpub: k.xpub, hd: k.hd };
}

/**
 * A governance `WalletRecord` of type `bitcoin-descriptor` → parsed wallet; its CAIP-2 chain must be
 * the network the descriptor's config names (a mainnet record with a testnet descriptor is refused).
 */
export function parseBitcoinWalletRecord(record: {
  id: string;
  chain: string;
  type: string;
  config: unknown;
}): BitcoinWallet {
  if (record.type !== 'bitcoin-descriptor')
    throw new InvalidInputError(
      'WRONG_WALLET_TYPE',
      'type',
      `wallet ${record.id} is not a bitcoin-descriptor wallet`,
    );
  const chain = parseChainId(record.chain, 'chain');
  const w = parseBitcoinWallet(record.config, 'config');
  if (chain.namespace !== 'bip122' || chain.network !== w.network)
    throw new InvalidInputError(
      'WALLET_CHAIN_MISMATCH',
      'chain',
      `wallet ${record.id}: chain and config.network differ`,
      {
        details: { chain: record.chain, network: w.network },
      },
    );
  return w;
}
