import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { InvalidInputError } from '../../errors/base.ts';
import type { Address, Hex, SafeTxFields } from './types.ts';

/**
 * EIP-712 SafeTx hashing for every Safe version (Gnosis Safe 0.1.0 … Safe 1.5.0, L1 and L2).
 *
 * Two things changed across versions, and getting either wrong yields a hash that owners sign but
 * that the contract never accepts — or worse, one a malicious UI can make collide with another
 * Safe on another chain:
 *  - the domain: `EIP712Domain(address verifyingContract)` before 1.3.0, and
 *    `EIP712Domain(uint256 chainId,address verifyingContract)` from 1.3.0 (cross-chain replay fix);
 *  - the SafeTx type: field 6 is `dataGas` in 0.1.0 and `baseGas` from 1.0.0 (renamed, so the
 *    typehash differs).
 * safeTxHash = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(SafeTx)) (EIP-712 §"Specification").
 * Encoding is done by hand (every field is a static 32-byte word, `data` is hashed) so the
 * co-signer's hot path does not go through a generic typed-data walker.
 */

export interface SafeVersion {
  /** as registered, e.g. "1.3.0+L2" */
  text: string;
  major: number;
  minor: number;
  patch: number;
  l2: boolean;
}

const VERSION_RE = /^(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)(\+L2)?$/;

/** Versions whose SafeTx encoding is known here; anything else is refused rather than guessed. */
const KNOWN_VERSIONS = new Set([
  '0.1.0',
  '1.0.0',
  '1.1.0',
  '1.1.1',
  '1.2.0',
  '1.3.0',
  '1.4.0',
  '1.4.1',
  '1.5.0',
]);

export function parseSafeVersion(text: string, field = 'safeVersion'): SafeVersion {
  const m = VERSION_RE.exec(text);
  if (!m)
    throw new InvalidInputError('INVALID_SAFE_VERSION', field, 'not a Safe version like 1.3.0 or 1.3.0+L2');
  const base = `${m[1]}.${m[2]}.${m[3]}`;
  if (!KNOWN_VERSIONS.has(base)) {
    throw new InvalidInputError('UNSUPPORTED_SAFE_VERSION', field, `unknown Safe version ${base}`, {
      details: { known: [...KNOWN_VERSIONS] },
    });
  }
  return { text, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), l2: m[4] !== undefined };
}

/** From 1.3.0 the domain separator includes the chain id. */
export function domainHasChainId(v: SafeVersion): boolean {
  return v.major > 1 || (v.major === 1 && v.minor >= 3);
}

/** Before 1.0.0 the gas overhead field was called dataGas. */
export function usesDataGas(v: SafeVersion): boolean {
  return v.major === 0;
}

const keccakText = (s: string) => keccak_256(utf8ToBytes(s));

export const SAFE_TX_TYPE =
  'SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)';
export const SAFE_TX_TYPE_DATAGAS =
  'SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 dataGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)';
const SAFE_TX_TYPEHASH = keccakText(SAFE_TX_TYPE);
const SAFE_TX_TYPEHASH_DATAGAS = keccakText(SAFE_TX_TYPE_DATAGAS);
const DOMAIN_TYPEHASH_CHAINID = keccakText('EIP712Domain(uint256 chainId,address verifyingContract)');
const DOMAIN_TYPEHASH_LEGACY = keccakText('EIP712Domain(address verifyingContract)');

const KECCAK_EMPTY = keccak_256(new Uint8Array(0));

const UINT256_MAX = (1n << 256n) - 1n;

function putUint(out: Uint8Array, offset: number, v: bigint, field: string): void {
  if (v < 0n || v > UINT256_MAX)
    throw new InvalidInputError('INVALID_SAFE_TX', field, 'out of uint256 range');
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function putAddress(out: Uint8Array, offset: number, a: string, field: string): void {
  if (!/^0x[0-9a-fA-F]{40}$/.test(a))
    throw new InvalidInputError('INVALID_ADDRESS', field, 'not a 20-byte address');
  out.set(hexToBytes(a.slice(2)), offset + 12);
}

function hexBytes(h: string, field: string): Uint8Array {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(h))
    throw new InvalidInputError('INVALID_HEX', field, 'not 0x-prefixed even-length hex');
  return hexToBytes(h.slice(2));
}

const toHex = (b: Uint8Array): Hex => `0x${bytesToHex(b)}`;

export function safeDomainSeparator(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
): Uint8Array {
  return domainSeparatorMemo(version, chainId, safe).slice();
}

/**
 * Domain separators by (domain form, chain id, Safe address): the same Safe signs many
 * transactions, and its separator is a pure function of exactly these three — whether the domain
 * includes the chain id (the version), the chain id when it does, and the address (case folded:
 * the bytes hashed are the same). Bounded: dropped when it reaches DOMAIN_MEMO_MAX entries. Only
 * valid inputs are remembered (invalid ones throw before). Callers get copies (see above) or
 * must not mutate it (safeTxHashBytes only reads it).
 */
const DOMAIN_MEMO_MAX = 4096;
const domainMemo = new Map<string, Uint8Array>();

function domainSeparatorMemo(version: SafeVersion, chainId: bigint | undefined, safe: Address): Uint8Array {
  const withChain = domainHasChainId(version);
  const key = withChain ? `${chainId}:${safe.toLowerCase()}` : `-:${safe.toLowerCase()}`;
  let domain = domainMemo.get(key);
  if (!domain) {
    domain = computeDomainSeparator(withChain, version, chainId, safe);
    if (domainMemo.size >= DOMAIN_MEMO_MAX) domainMemo.clear();
    domainMemo.set(key, domain);
  }
  return domain;
}

function computeDomainSeparator(
  withChain: boolean,
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
): Uint8Array {
  if (withChain) {
    if (chainId === undefined) {
      throw new InvalidInputError('INVALID_SAFE_TX', 'chainId', `Safe ${version.text} needs a chain id`);
    }
    const buf = new Uint8Array(96);
    buf.set(DOMAIN_TYPEHASH_CHAINID, 0);
    putUint(buf, 32, chainId, 'chainId');
    putAddress(buf, 64, safe, 'safe');
    return keccak_256(buf);
  }
  const buf = new Uint8Array(64);
  buf.set(DOMAIN_TYPEHASH_LEGACY, 0);
  putAddress(buf, 32, safe, 'safe');
  return keccak_256(buf);
}

/** Uncached, for tests that compare it with the memoized one. */
export function safeDomainSeparatorUncached(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
): Uint8Array {
  return computeDomainSeparator(domainHasChainId(version), version, chainId, safe);
}

/** abi.encode(typehash, to, value, keccak(data), operation, safeTxGas, baseGas, gasPrice, gasToken, refundReceiver, nonce) */
export function encodeSafeTxStruct(version: SafeVersion, tx: SafeTxFields): Uint8Array {
  const buf = new Uint8Array(32 * 11);
  buf.set(usesDataGas(version) ? SAFE_TX_TYPEHASH_DATAGAS : SAFE_TX_TYPEHASH, 0);
  putAddress(buf, 32, tx.to, 'to');
  putUint(buf, 64, tx.value, 'value');
  // A plain ETH transfer has no data: keccak256 of the empty string is a constant.
  buf.set(tx.data === '0x' ? KECCAK_EMPTY : keccak_256(hexBytes(tx.data, 'data')), 96);
  putUint(buf, 128, BigInt(tx.operation), 'operation');
  putUint(buf, 160, tx.safeTxGas, 'safeTxGas');
  putUint(buf, 192, tx.baseGas, 'baseGas');
  putUint(buf, 224, tx.gasPrice, 'gasPrice');
  putAddress(buf, 256, tx.gasToken, 'gasToken');
  putAddress(buf, 288, tx.refundReceiver, 'refundReceiver');
  putUint(buf, 320, tx.nonce, 'nonce');
  return buf;
}

export interface SafeTxHashes {
  domainHash: Hex;
  messageHash: Hex;
  safeTxHash: Hex;
  /** the ABI-encoded SafeTx struct that messageHash hashes (what safe-tx-hashes-util prints) */
  encodedMessage: Hex;
}

export function safeTxHashBytes(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
  tx: SafeTxFields,
): { domain: Uint8Array; message: Uint8Array; digest: Uint8Array; encoded: Uint8Array } {
  const domain = domainSeparatorMemo(version, chainId, safe).slice();
  const encoded = encodeSafeTxStruct(version, tx);
  const message = keccak_256(encoded);
  const pre = new Uint8Array(66);
  pre[0] = 0x19;
  pre[1] = 0x01;
  pre.set(domain, 2);
  pre.set(message, 34);
  return { domain, message, digest: keccak_256(pre), encoded };
}

export function computeSafeTxHashes(
  version: SafeVersion,
  chainId: bigint | undefined,
  safe: Address,
  tx: SafeTxFields,
): SafeTxHashes {
  const h = safeTxHashBytes(version, chainId, safe, tx);
  return {
    domainHash: toHex(h.domain),
    messageHash: toHex(h.message),
    safeTxHash: toHex(h.digest),
    encodedMessage: toHex(h.encoded),
  };
}
