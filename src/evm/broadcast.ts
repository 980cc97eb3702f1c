import type { Chain, PublicClient, Transport } from 'viem';
import { decodeSignedTransaction } from '../core/chains/evm/tx-decode.ts';
import type { Address, Hex } from '../core/chains/evm/types.ts';
import { CustosError } from '../core/errors/base.ts';

type Client = PublicClient<Transport, Chain>;

export interface Broadcast {
  txHash: Hex;
  from: Address;
  blockNumber: bigint;
  blockHash: Hex;
  status: 'success' | 'reverted';
}

/**
 * Broadcasts a signed transaction and waits for its receipt. The bytes are decoded strictly
 * first (canonical, low-S, this chain) and the node must return the hash we computed — a relay
 * that rewrites or substitutes the transaction is detected here.
 */
export async function broadcast(
  client: Client,
  signedTx: Hex,
  opts: { expectedFrom?: Address; confirmations?: number } = {},
): Promise<Broadcast> {
  const chainId = BigInt(await client.getChainId());
  const d = await decodeSignedTransaction(signedTx, { chainId });
  if (!d.ok) throw new CustosError(d.code, d.message);
  if (opts.expectedFrom && d.value.from.toLowerCase() !== opts.expectedFrom.toLowerCase()) {
    throw new CustosError('SIGNER_MISMATCH', 'transaction is not signed by the expected account');
  }
  const hash = await client.sendRawTransaction({ serializedTransaction: signedTx });
  if (hash.toLowerCase() !== d.value.hash)
    throw new CustosError('TX_HASH_MISMATCH', 'node returned another transaction hash');
  const receipt = await client.waitForTransactionReceipt({ hash, confirmations: opts.confirmations ?? 1 });
  return {
    txHash: hash,
    from: d.value.from,
    blockNumber: receipt.blockNumber,
    blockHash: receipt.blockHash,
    status: receipt.status,
  };
}
