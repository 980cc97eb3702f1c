import {
  formatTransactionReceipt,
  type Hex,
  parseEventLogs,
  type RpcTransactionReceipt,
  type TransactionReceipt,
} from 'viem';
import { getHttpRpcClient } from 'viem/utils';
import { CustosError } from '../core/errors/base.ts';

export type TxStatus = 'pending' | 'confirmed' | 'failed';

const executionFailure = [
  {
    type: 'event',
    name: 'ExecutionFailure',
    inputs: [
      { name: 'txHash', type: 'bytes32', indexed: false },
      { name: 'payment', type: 'uint256', indexed: false },
    ],
  },
] as const;

/**
 * A receipt's outcome for the workflow: no receipt (or one for another hash) → pending; reverted → failed; mined with a Safe
 * ExecutionFailure event → failed (a Safe < 1.3.0, or one called with safeTxGas/gasPrice ≠ 0,
 * mines with status 1 when the inner transfer fails); otherwise confirmed. ExecutionFailure has
 * the same topic0 in every Safe version (1.4.1 only indexes txHash), so it is matched non-strictly.
 */
export function classifyReceipt(r: TransactionReceipt | undefined | null, txHash: string): TxStatus {
  // A receipt for another transaction (a confused or lying node, a batch answer out of place)
  // says nothing about this one.
  if (!r || r.transactionHash.toLowerCase() !== txHash.toLowerCase()) return 'pending';
  if (r.status !== 'success') return 'failed';
  const failed = parseEventLogs({ abi: executionFailure, logs: r.logs, strict: false });
  return failed.length > 0 ? 'failed' : 'confirmed';
}

/** JSON-RPC batches above this size are split (providers cap batch length; 1,000 is common). */
export const RECEIPT_BATCH_SIZE = 1000;

/**
 * Receipts of many transactions in one JSON-RPC batch request per RECEIPT_BATCH_SIZE hashes
 * (eth_getTransactionReceipt × n in one HTTP POST), classified by `classifyReceipt`. A hash
 * whose entry carries an error is 'pending' — exactly what a single receipt lookup that throws
 * gives (the caller polls again; nothing is marked confirmed without a receipt). A request that
 * fails as a whole, or an endpoint that answers with one (error) object instead of an array
 * (it does not take batches), throws RPC_BATCH_FAILED: the caller falls back to one lookup per
 * hash rather than reading everything as pending forever.
 */
export async function receiptStatuses(
  rpcUrl: string,
  hashes: readonly string[],
  opts: { timeoutMs?: number; batchSize?: number } = {},
): Promise<Map<string, TxStatus>> {
  const out = new Map<string, TxStatus>();
  const unique = [...new Set(hashes)];
  const size = opts.batchSize ?? RECEIPT_BATCH_SIZE;
  const rpc = getHttpRpcClient(rpcUrl, { timeout: opts.timeoutMs ?? 10_000 });
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += size) chunks.push(unique.slice(i, i + size));
  await Promise.all(
    chunks.map(async (chunk) => {
      const body = chunk.map((hash, id) => ({
        jsonrpc: '2.0' as const,
        id,
        method: 'eth_getTransactionReceipt',
        params: [hash as Hex],
      }));
      let replies: unknown;
      try {
        replies = await rpc.request({ body });
      } catch (cause) {
        throw new CustosError('RPC_BATCH_FAILED', 'the receipt batch request failed', { cause });
      }
      // An endpoint that does not take batch arrays answers with one error object.
      if (!Array.isArray(replies)) {
        throw new CustosError('RPC_BATCH_FAILED', 'the RPC endpoint did not answer the batch with an array');
      }
      const byId = new Map<unknown, { result?: unknown; error?: unknown }>();
      for (const r of replies as { id?: unknown; result?: unknown; error?: unknown }[])
        if (r && typeof r === 'object') byId.set(r.id, r);
      chunk.forEach((hash, id) => {
        const r = byId.get(id);
        const receipt =
          r && !r.error && r.result ? formatTransactionReceipt(r.result as RpcTransactionReceipt) : undefined;
        out.set(hash, classifyReceipt(receipt, hash));
      });
    }),
  );
  return out;
}
