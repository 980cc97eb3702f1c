import type { WalletUtxo } from '../core/chains/bitcoin/build.ts';
import { type Branch, deriveOutput } from '../core/chains/bitcoin/descriptor/derive.ts';
import type { BitcoinWallet } from '../core/chains/bitcoin/wallet.ts';
import { CustosError } from '../core/errors/base.ts';
import type { BitcoinCoreRpc } from './rpc.ts';
import { toHex } from './source.ts';

/**
 * Coordinator side: the wallet's spendable UTXOs from its watch-only Bitcoin Core wallet, each
 * mapped back to its branch and index (by re-deriving scripts up to `upTo`) and carrying its full
 * previous transaction for non_witness_utxo. A UTXO whose script the descriptor does not derive
 * is skipped (it cannot be signed), never guessed.
 */
export async function walletUtxos(
  rpc: BitcoinCoreRpc,
  w: BitcoinWallet,
  upTo: number,
  minConf = 1,
): Promise<WalletUtxo[]> {
  const byScript = new Map<string, { branch: Branch; index: number }>();
  for (const branch of ['receive', 'change'] as const)
    for (let i = 0; i <= Math.min(upTo, w.maxIndex); i++)
      byScript.set(toHex(deriveOutput(w, branch, i).script), { branch, index: i });
  const out: WalletUtxo[] = [];
  for (const u of await rpc.listUnspent(minConf)) {
    const at = u.script ? byScript.get(u.script) : undefined;
    if (!at) continue;
    const prevTx = await rpc.walletTransaction(u.txid);
    out.push({ txid: u.txid, vout: u.vout, value: u.value, branch: at.branch, index: at.index, prevTx });
  }
  if (out.length === 0 && byScript.size === 0)
    throw new CustosError('WALLET_EMPTY_RANGE', 'no addresses derived');
  return out;
}
