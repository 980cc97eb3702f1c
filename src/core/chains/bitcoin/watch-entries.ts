import type { WatchEntry } from './block/watch.ts';
import { deriveOutput } from './descriptor/derive.ts';
import type { BitcoinWallet } from './wallet.ts';

/**
 * The watchtower's view of a wallet: every receive and change script from index 0 up to
 * `upTo` (the highest used index plus the gap limit), with multisig witness scripts so spends
 * are recognized by their witness as well.
 */
export function watchEntries(walletId: string, w: BitcoinWallet, upTo: number): WatchEntry[] {
  const out: WatchEntry[] = [];
  for (const branch of ['receive', 'change'] as const)
    for (let i = 0; i <= Math.min(upTo, w.maxIndex); i++) {
      const d = deriveOutput(w, branch, i);
      out.push({
        wallet: walletId,
        script: d.script,
        witnessScript: d.witnessScript,
        ...(w.kind === 'wpkh' ? { pubkey: d.keys[0]!.pubkey } : {}),
      });
    }
  return out;
}
