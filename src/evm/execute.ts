import {
  type Account,
  type Chain,
  concatHex,
  encodeAbiParameters,
  erc20Abi,
  getAbiItem,
  type PublicClient,
  parseAbi,
  parseEventLogs,
  type Transport,
  toFunctionSelector,
  type WalletClient,
} from 'viem';
import type { Address, Hex, SafeTxFields } from '../core/chains/evm/types.ts';
import { CustosError } from '../core/errors/base.ts';
import { safeAbi } from './safe-abi.ts';

type Client = PublicClient<Transport, Chain>;
type Relayer = WalletClient<Transport, Chain, Account>;

const executionEvents = parseAbi([
  'event ExecutionSuccess(bytes32 txHash, uint256 payment)',
  'event ExecutionFailure(bytes32 txHash, uint256 payment)',
]);
// 1.4.1 indexes txHash; the topic0 is the same, only the position of txHash differs.
const executionEventsIndexed = parseAbi([
  'event ExecutionSuccess(bytes32 indexed txHash, uint256 payment)',
  'event ExecutionFailure(bytes32 indexed txHash, uint256 payment)',
]);

export interface OwnerSignature {
  owner: Address;
  /** 65 bytes r ‖ s ‖ v */
  signature: Hex;
}

/**
 * Safe's checkNSignatures requires signatures sorted by owner address, strictly increasing
 * (`currentOwner > lastOwner`), one per owner; duplicates are refused here before spending gas.
 */
export function packSafeSignatures(signatures: OwnerSignature[]): Hex {
  const sorted = [...signatures].sort((a, b) => {
    const x = BigInt(a.owner);
    const y = BigInt(b.owner);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (let i = 1; i < sorted.length; i++) {
    if (BigInt(sorted[i]!.owner) === BigInt(sorted[i - 1]!.owner)) {
      throw new CustosError('DUPLICATE_SIGNER', 'two signatures from the same owner', {
        details: { owner: sorted[i]!.owner },
      });
    }
  }
  for (const s of sorted) {
    if (!/^0x[0-9a-fA-F]{130}$/.test(s.signature))
      throw new CustosError('INVALID_SIGNATURE', 'not a 65-byte signature');
  }
  return concatHex(sorted.map((s) => s.signature));
}

/** The Safe transaction fields in the order getTransactionHash and execTransaction take them (nonce excluded). */
function safeTxFieldArgs(f: SafeTxFields) {
  return [
    f.to,
    f.value,
    f.data,
    f.operation,
    f.safeTxGas,
    f.baseGas,
    f.gasPrice,
    f.gasToken,
    f.refundReceiver,
  ] as const;
}

/**
 * execTransaction's arguments: the fields the owners signed plus their packed signatures; the
 * nonce is not an argument, the Safe uses its own current nonce.
 */
export function execTransactionArgs(f: SafeTxFields, signatures: OwnerSignature[]) {
  return [...safeTxFieldArgs(f), packSafeSignatures(signatures)] as const;
}

const EXEC_TRANSACTION = getAbiItem({ abi: safeAbi, name: 'execTransaction' });
/** 0x6a761202, derived once from the ABI (viem's encodeFunctionData hashes the signature per call). */
const EXEC_SELECTOR = toFunctionSelector(EXEC_TRANSACTION);

/**
 * The execTransaction calldata: what `encodeFunctionData({ abi: safeAbi, functionName:
 * 'execTransaction', args })` returns, without looking the function up and hashing its signature
 * for every carrier.
 */
export function encodeExecTransaction(f: SafeTxFields, signatures: OwnerSignature[]): Hex {
  return concatHex([
    EXEC_SELECTOR,
    encodeAbiParameters(EXEC_TRANSACTION.inputs, execTransactionArgs(f, signatures)),
  ]);
}

export interface SafeExecution {
  txHash: Hex;
  blockNumber: bigint;
  blockHash: Hex;
  safeTxHash: Hex;
  gasUsed: bigint;
  /** balance of the recipient (native or token) before and after, when `expect` was given */
  balanceBefore?: bigint;
  balanceAfter?: bigint;
}

/**
 * Coordinator: submits execTransaction from a relayer account, waits for the receipt, and checks
 * that the Safe emitted ExecutionSuccess for exactly this safeTxHash (a Safe call whose inner
 * transfer fails still mines: status success + ExecutionFailure) and, when `expect` is given,
 * that the recipient's balance rose by exactly the amount.
 */
export async function executeSafeTransaction(
  tx: { safe: Address; fields: SafeTxFields; safeTxHash: Hex },
  signatures: OwnerSignature[],
  relayer: Relayer,
  client: Client,
  expect?: { token?: Address; recipient: Address; amount: bigint },
): Promise<SafeExecution> {
  const f = tx.fields;
  const onChainHash = await client.readContract({
    address: tx.safe,
    abi: safeAbi,
    functionName: 'getTransactionHash',
    args: [...safeTxFieldArgs(f), f.nonce],
  });
  if (onChainHash.toLowerCase() !== tx.safeTxHash.toLowerCase()) {
    throw new CustosError('SAFE_TX_HASH_MISMATCH', 'the Safe computes another hash for these fields', {
      details: { expected: tx.safeTxHash, onChain: onChainHash },
    });
  }
  const balance = async () => {
    if (!expect) return undefined;
    if (expect.token) {
      return client.readContract({
        address: expect.token,
        abi: erc20Abi,
        functionName: 'balanceOf',
        args: [expect.recipient],
      });
    }
    return client.getBalance({ address: expect.recipient });
  };
  const before = await balance();
  const hash = await relayer.writeContract({
    address: tx.safe,
    abi: safeAbi,
    functionName: 'execTransaction',
    args: execTransactionArgs(f, signatures),
  });
  const receipt = await client.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success')
    throw new CustosError('EXECUTION_REVERTED', 'execTransaction reverted', { details: { hash } });
  const fromSafe = receipt.logs.filter((l) => l.address.toLowerCase() === tx.safe.toLowerCase());
  const events = [
    ...parseEventLogs({ abi: executionEvents, logs: fromSafe, strict: true }),
    ...parseEventLogs({ abi: executionEventsIndexed, logs: fromSafe, strict: true }),
  ];
  const mine = events.find((e) => e.args.txHash.toLowerCase() === tx.safeTxHash.toLowerCase());
  if (!mine || mine.eventName !== 'ExecutionSuccess') {
    throw new CustosError(
      'EXECUTION_FAILED',
      'the Safe did not report ExecutionSuccess for this safeTxHash',
      {
        details: { hash, event: mine?.eventName ?? 'none' },
      },
    );
  }
  const after = await balance();
  if (expect && before !== undefined && after !== undefined && after - before !== expect.amount) {
    throw new CustosError('BALANCE_MISMATCH', 'recipient balance did not change by the amount', {
      details: { before: before.toString(), after: after.toString(), amount: expect.amount.toString() },
    });
  }
  return {
    txHash: hash,
    blockNumber: receipt.blockNumber,
    blockHash: receipt.blockHash,
    safeTxHash: tx.safeTxHash,
    gasUsed: receipt.gasUsed,
    balanceBefore: before,
    balanceAfter: after,
  };
}
