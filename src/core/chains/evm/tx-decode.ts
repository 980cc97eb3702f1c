import {
  keccak256,
  parseTransaction,
  recoverTransactionAddress,
  type Signature,
  serializeTransaction,
  type TransactionSerializable,
} from 'viem';
import { fail, ok, type Result } from '../../errors/base.ts';
import type { Address, Hex } from './types.ts';

/**
 * Strict decoding of raw Ethereum transactions (legacy/EIP-155, EIP-2930, EIP-1559).
 *
 * viem's parser is lenient in ways a signer must not be: it accepts RLP integers with leading
 * zeros, lists where strings belong, values wider than 256 bits, high-S signatures and chain ids
 * other than ours. Two byte strings that decode to "the same" transaction would let a relayer or
 * a coordinator present one thing and broadcast another, so after parsing we re-serialize and
 * require byte equality (canonical RLP, EIP-2718 envelope), then apply the consensus bounds.
 */
export type TxDecodeCode =
  | 'TX_MALFORMED'
  | 'TX_NONCANONICAL'
  | 'TX_FIELD_OVERFLOW'
  | 'TX_BAD_SIGNATURE'
  | 'TX_UNSUPPORTED_TYPE'
  | 'TX_SIGNED'
  | 'CHAIN_MISMATCH';

export interface DecodedTx {
  type: 'legacy' | 'eip2930' | 'eip1559';
  chainId: bigint | undefined;
  nonce: bigint;
  to: Address | null;
  value: bigint;
  data: Hex;
  gas: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  accessListLength: number;
}

export interface DecodedSignedTx extends DecodedTx {
  from: Address;
  hash: Hex;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const U64 = (1n << 64n) - 1n;
const U256 = (1n << 256n) - 1n;

type Parsed = ReturnType<typeof parseTransaction>;

function boundsCheck(tx: Parsed): Result<undefined, TxDecodeCode> {
  if (tx.type !== 'legacy' && tx.type !== 'eip2930' && tx.type !== 'eip1559') {
    return fail('TX_UNSUPPORTED_TYPE', `transaction type ${tx.type} is not supported`);
  }
  const gas = tx.gas ?? 0n;
  const nonce = BigInt(tx.nonce ?? 0);
  // Yellow Paper / EIP-2681: nonce and gas limit are 64-bit; amounts and prices 256-bit.
  if (nonce > U64 || gas > U64) return fail('TX_FIELD_OVERFLOW', 'nonce or gas limit above 2^64-1');
  const price = tx.type === 'eip1559' ? (tx.maxFeePerGas ?? 0n) : (tx.gasPrice ?? 0n);
  for (const v of [tx.value ?? 0n, price, tx.type === 'eip1559' ? (tx.maxPriorityFeePerGas ?? 0n) : 0n]) {
    if (v > U256) return fail('TX_FIELD_OVERFLOW', 'integer field above 2^256-1');
  }
  // The sender must be able to pay gas * price in a uint256 (GASLIMIT_PRICE_PRODUCT_OVERFLOW).
  if (gas * price > U256) return fail('TX_FIELD_OVERFLOW', 'gas limit × fee cap overflows 2^256');
  return ok();
}

function toDecoded(tx: Parsed): DecodedTx {
  const d: DecodedTx = {
    type: tx.type as DecodedTx['type'],
    chainId: tx.chainId === undefined ? undefined : BigInt(tx.chainId),
    nonce: BigInt(tx.nonce ?? 0),
    to: (tx.to ?? null) as Address | null,
    value: tx.value ?? 0n,
    data: (tx.data ?? '0x') as Hex,
    gas: tx.gas ?? 0n,
    accessListLength: 'accessList' in tx && tx.accessList ? tx.accessList.length : 0,
  };
  if (tx.type === 'eip1559') {
    d.maxFeePerGas = tx.maxFeePerGas ?? 0n;
    d.maxPriorityFeePerGas = tx.maxPriorityFeePerGas ?? 0n;
  } else {
    d.gasPrice = tx.gasPrice ?? 0n;
  }
  return d;
}

function parse(raw: Hex): Result<{ tx: Parsed }, TxDecodeCode> {
  if (!/^0x([0-9a-f]{2})+$/.test(raw)) return fail('TX_MALFORMED', 'not lowercase 0x hex bytes');
  try {
    return ok({ tx: parseTransaction(raw) });
  } catch (e) {
    return fail(
      'TX_MALFORMED',
      `undecodable transaction: ${e instanceof Error ? e.message.split('\n')[0] : e}`,
    );
  }
}

/**
 * Decodes and checks a signed transaction: canonical bytes, field bounds, a valid low-S signature
 * (EIP-2), and — when `chainId` is given — replay protection for that chain (EIP-155 `v`, or the
 * typed transaction's chainId). Returns the recovered sender and the transaction hash.
 */
export async function decodeSignedTransaction(
  raw: Hex,
  opts: { chainId?: bigint; allowUnprotectedLegacy?: boolean } = {},
): Promise<Result<DecodedSignedTx, TxDecodeCode>> {
  const p = parse(raw);
  if (!p.ok) return p;
  const tx = p.value.tx;
  const b = boundsCheck(tx);
  if (!b.ok) return b;
  if (tx.r === undefined || tx.s === undefined) return fail('TX_BAD_SIGNATURE', 'transaction is not signed');
  const r = tx.r === '0x' ? 0n : BigInt(tx.r);
  const s = tx.s === '0x' ? 0n : BigInt(tx.s);
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N) {
    return fail('TX_BAD_SIGNATURE', 'r or s out of range');
  }
  if (s > SECP256K1_N / 2n) return fail('TX_BAD_SIGNATURE', 'high-S signature (EIP-2)');
  let chainId: bigint | undefined;
  if (tx.type === 'legacy') {
    const v = tx.v ?? 0n;
    if (v === 27n || v === 28n) chainId = undefined;
    else if (v >= 37n) chainId = (v - 35n) / 2n;
    else return fail('TX_BAD_SIGNATURE', `invalid legacy v ${v}`);
    if (chainId === undefined && opts.chainId !== undefined && !opts.allowUnprotectedLegacy) {
      return fail('CHAIN_MISMATCH', 'legacy transaction without EIP-155 replay protection');
    }
  } else {
    chainId = tx.chainId === undefined ? undefined : BigInt(tx.chainId);
  }
  if (opts.chainId !== undefined && chainId !== undefined && chainId !== opts.chainId) {
    return fail('CHAIN_MISMATCH', `transaction is for chain ${chainId}, expected ${opts.chainId}`);
  }
  const sig: Signature =
    tx.type === 'legacy' ? { r: tx.r, s: tx.s, v: tx.v! } : { r: tx.r, s: tx.s, yParity: tx.yParity! };
  let again: Hex;
  try {
    again = serializeTransaction(tx as TransactionSerializable, sig);
  } catch {
    return fail('TX_NONCANONICAL', 'transaction does not re-encode');
  }
  if (again !== raw)
    return fail('TX_NONCANONICAL', 'non-canonical RLP encoding (leading zeros, wrong item kinds)');
  let from: Address;
  try {
    from = await recoverTransactionAddress({
      serializedTransaction: raw as Parameters<typeof recoverTransactionAddress>[0]['serializedTransaction'],
    });
  } catch {
    return fail('TX_BAD_SIGNATURE', 'signature does not recover a public key');
  }
  return ok({ ...toDecoded(tx), chainId, from, hash: keccak256(raw) });
}

/**
 * Decodes an UNSIGNED EIP-1559 transaction as the coordinator hands it to a hot-wallet co-signer.
 * A signature, another type, or any non-canonical byte is refused: the co-signer signs exactly
 * the bytes it decoded. Returns the EIP-1559 signing hash keccak256(0x02 ‖ rlp([...])).
 */
export function decodeUnsignedEip1559(raw: Hex): Result<DecodedTx & { signingHash: Hex }, TxDecodeCode> {
  const p = parse(raw);
  if (!p.ok) return p;
  const tx = p.value.tx;
  if (tx.type !== 'eip1559')
    return fail('TX_UNSUPPORTED_TYPE', `expected an EIP-1559 transaction, got ${tx.type}`);
  if (tx.r !== undefined || tx.s !== undefined)
    return fail('TX_SIGNED', 'transaction already carries a signature');
  const b = boundsCheck(tx);
  if (!b.ok) return b;
  let again: Hex;
  try {
    again = serializeTransaction(tx as TransactionSerializable);
  } catch {
    return fail('TX_NONCANONICAL', 'transaction does not re-encode');
  }
  if (again !== raw) return fail('TX_NONCANONICAL', 'non-canonical RLP encoding');
  return ok({ ...toDecoded(tx), signingHash: keccak256(raw) });
}
