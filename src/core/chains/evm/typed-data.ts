import { bytesToHex } from '@noble/hashes/utils.js';
import { InvalidInputError } from '../../errors/base.ts';
import {
  domainHasChainId,
  parseSafeVersion,
  SAFE_TX_TYPE,
  type SafeVersion,
  safeTxHashBytes,
  usesDataGas,
} from './safe-hash.ts';
import type { Address, Hex, SafeTxFields } from './types.ts';

/**
 * The EIP-712 typed data a Safe owner signs, in the shape wallets and viem's `hashTypedData`
 * understand (`eth_signTypedData_v4`). Custos never signs a bare hash handed to it (`eth_sign`):
 * the co-signer builds this structure itself from fields it decoded and checked, and signs its
 * digest — so what is verified is, byte for byte, what is signed.
 */
export interface SafeTypedData {
  domain: { chainId?: number; verifyingContract: Address };
  types: { SafeTx: { name: string; type: string }[] };
  primaryType: 'SafeTx';
  message: {
    to: Address;
    value: string;
    data: Hex;
    operation: number;
    safeTxGas: string;
    baseGas?: string;
    dataGas?: string;
    gasPrice: string;
    gasToken: Address;
    refundReceiver: Address;
    nonce: string;
  };
  /** not part of EIP-712: the Safe version the encoding follows, kept so the digest is recomputable */
  safeVersion: string;
}

function fieldsOf(type: string): { name: string; type: string }[] {
  const inner = type.slice(type.indexOf('(') + 1, -1);
  return inner.split(',').map((p) => {
    const [t, n] = p.split(' ');
    return { name: n!, type: t! };
  });
}

/**
 * The SafeTx field lists (frozen, shared by every typed data object): from 1.0.0, and with
 * field 6 named `dataGas` before (see safe-hash.ts).
 */
const SAFE_TX_FIELDS = deepFreeze(fieldsOf(SAFE_TX_TYPE));
const SAFE_TX_FIELDS_DATAGAS = deepFreeze(
  SAFE_TX_FIELDS.map((f) => (f.name === 'baseGas' ? { ...f, name: 'dataGas' } : { ...f })),
);

export function safeTypedData(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
  tx: SafeTxFields,
): SafeTypedData {
  const dataGas = usesDataGas(version);
  const types = dataGas ? SAFE_TX_FIELDS_DATAGAS : SAFE_TX_FIELDS;
  const withChain = domainHasChainId(version);
  if (withChain && (chainId === undefined || chainId > BigInt(Number.MAX_SAFE_INTEGER))) {
    // EIP-712 JSON carries chainId as a JSON number; refuse rather than round it.
    throw new InvalidInputError('INVALID_SAFE_TX', 'chainId', 'chain id missing or above 2^53-1');
  }
  const td: SafeTypedData = {
    domain: withChain ? { chainId: Number(chainId), verifyingContract: safe } : { verifyingContract: safe },
    types: { SafeTx: types },
    primaryType: 'SafeTx',
    message: {
      to: tx.to,
      value: tx.value.toString(),
      data: tx.data,
      operation: tx.operation,
      safeTxGas: tx.safeTxGas.toString(),
      ...(dataGas ? { dataGas: tx.baseGas.toString() } : { baseGas: tx.baseGas.toString() }),
      gasPrice: tx.gasPrice.toString(),
      gasToken: tx.gasToken,
      refundReceiver: tx.refundReceiver,
      nonce: tx.nonce.toString(),
    },
    safeVersion: version.text,
  };
  return deepFreeze(td);
}

/** Freezes `o` and everything under it; an already frozen object (the shared field lists) is left as is. */
function deepFreeze<T extends object>(o: T): T {
  if (Object.isFrozen(o)) return o;
  for (const k in o) {
    const v = o[k];
    if (v && typeof v === 'object') deepFreeze(v);
  }
  return Object.freeze(o);
}

/**
 * Digests of typed data objects built (and frozen) by this module. Frozen objects cannot be
 * edited after the verifier computed their digest, so signing can reuse it instead of hashing
 * again; any other object is hashed from its fields.
 */
const digests = new WeakMap<SafeTypedData, Uint8Array>();

/** Typed data plus its digest, computed once (used by the verifier on its hot path). */
export function safeTypedDataWithDigest(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
  tx: SafeTxFields,
  digest: Uint8Array,
): SafeTypedData {
  const td = safeTypedData(version, chainId, safe, tx);
  digests.set(td, digest.slice());
  return td;
}

/** Recomputes the EIP-712 digest of typed data built by {@link safeTypedData}. */
export function safeTypedDataDigest(td: SafeTypedData): Uint8Array {
  const known = Object.isFrozen(td) ? digests.get(td) : undefined;
  if (known) return known.slice();
  const version = parseSafeVersion(td.safeVersion);
  const m = td.message;
  const tx: SafeTxFields = {
    to: m.to,
    value: BigInt(m.value),
    data: m.data,
    operation: m.operation as SafeTxFields['operation'],
    safeTxGas: BigInt(m.safeTxGas),
    baseGas: BigInt(m.baseGas ?? m.dataGas ?? '0'),
    gasPrice: BigInt(m.gasPrice),
    gasToken: m.gasToken,
    refundReceiver: m.refundReceiver,
    nonce: BigInt(m.nonce),
  };
  const chainId = td.domain.chainId === undefined ? undefined : BigInt(td.domain.chainId);
  return safeTxHashBytes(version, chainId, td.domain.verifyingContract, tx).digest;
}

export function safeTypedDataHash(td: SafeTypedData): Hex {
  return `0x${bytesToHex(safeTypedDataDigest(td))}`;
}
