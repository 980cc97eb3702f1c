import type { HDKey } from '@scure/bip32';
import { p2ms, p2sh, p2tr, p2wpkh, p2wsh, utils } from '@scure/btc-signer';
import { bitcoinNetwork } from '../../address.ts';
import { BitcoinInputError } from '../errors.ts';
import type { BitcoinWallet, WalletKey } from '../wallet.ts';

export type Branch = 'receive' | 'change';

export interface KeyDerivation {
  pubkey: Uint8Array;
  fingerprint: number;
  /** Full path from the master (origin path + branch steps + index). */
  path: number[];
}

/** One address of the wallet, with everything a PSBT input/output needs to describe it. */
export interface DerivedOutput {
  branch: Branch;
  index: number;
  script: Uint8Array;
  address: string;
  redeemScript?: Uint8Array;
  witnessScript?: Uint8Array;
  /** Taproot output key's internal key (x-only), for tr(). */
  tapInternalKey?: Uint8Array;
  keys: KeyDerivation[];
}

interface Cache {
  nodes: Map<string, HDKey>;
  outputs: Map<string, DerivedOutput>;
}
const caches = new WeakMap<BitcoinWallet, Cache>();
const MAX_CACHED = 200_000;

function cacheOf(w: BitcoinWallet): Cache {
  let c = caches.get(w);
  if (!c) {
    c = { nodes: new Map(), outputs: new Map() };
    caches.set(w, c);
  }
  return c;
}

function stepsOf(k: WalletKey, branch: Branch): number[] {
  return branch === 'receive' ? k.receiveSteps : k.changeSteps;
}

function branchNode(w: BitcoinWallet, ki: number, branch: Branch): HDKey {
  const c = cacheOf(w);
  const id = `${ki}/${branch}`;
  let n = c.nodes.get(id);
  if (!n) {
    n = w.keys[ki]!.hd;
    for (const s of stepsOf(w.keys[ki]!, branch)) n = n.deriveChild(s);
    c.nodes.set(id, n);
  }
  return n;
}

/**
 * Derives the wallet's output at `branch`/`index` (memoized per wallet object: co-signers see the
 * same addresses again and again). BIP 67 sorting for sortedmulti; BIP 86 tweak for tr(KEY).
 */
export function deriveOutput(w: BitcoinWallet, branch: Branch, index: number): DerivedOutput {
  if (!Number.isInteger(index) || index < 0 || index > w.maxIndex)
    throw new BitcoinInputError('DERIVATION_OUT_OF_RANGE', 'derivation index outside the wallet range', {
      details: { index, maxIndex: w.maxIndex },
    });
  const c = cacheOf(w);
  const id = `${branch}/${index}`;
  const hit = c.outputs.get(id);
  if (hit) return hit;
  const net = bitcoinNetwork(w.network);
  const keys: KeyDerivation[] = w.keys.map((k, ki) => ({
    pubkey: branchNode(w, ki, branch).deriveChild(index).publicKey!,
    fingerprint: k.fingerprint,
    path: [...k.originPath, ...stepsOf(k, branch), index],
  }));
  let out: DerivedOutput;
  if (w.kind === 'wpkh') {
    const p = p2wpkh(keys[0]!.pubkey, net);
    out = { branch, index, script: p.script, address: p.address!, keys };
  } else if (w.kind === 'tr') {
    const xonly = keys[0]!.pubkey.subarray(1);
    const p = p2tr(xonly, undefined, net);
    out = { branch, index, script: p.script, address: p.address!, tapInternalKey: xonly, keys };
  } else {
    // BIP 67 (sortedmulti): keys sorted lexicographically by their compressed encoding.
    const sorted = keys.map((k) => k.pubkey).sort(utils.compareBytes);
    const ms = p2ms(w.threshold, sorted);
    const wsh = p2wsh(ms, net);
    if (w.kind === 'wsh-sortedmulti') {
      out = { branch, index, script: wsh.script, address: wsh.address!, witnessScript: ms.script, keys };
    } else {
      const sh = p2sh(wsh, net);
      out = {
        branch,
        index,
        script: sh.script,
        address: sh.address!,
        redeemScript: wsh.script,
        witnessScript: ms.script,
        keys,
      };
    }
  }
  if (c.outputs.size >= MAX_CACHED) c.outputs.clear();
  c.outputs.set(id, out);
  return out;
}

/**
 * Maps a claimed BIP 32 derivation (from a PSBT's bip32Derivation) to the wallet's branch and index,
 * or undefined when no wallet key has that origin. The claim is only a hint: callers re-derive
 * the script and compare it with the spent output, so a lying path yields "not ours".
 */
export function locateDerivation(
  w: BitcoinWallet,
  fingerprint: number,
  path: readonly number[],
): { branch: Branch; index: number } | undefined {
  for (const k of w.keys) {
    if (k.fingerprint !== fingerprint) continue;
    for (const branch of ['receive', 'change'] as const) {
      const prefix = [...k.originPath, ...stepsOf(k, branch)];
      if (path.length !== prefix.length + 1) continue;
      if (!prefix.every((s, i) => path[i] === s)) continue;
      const index = path[path.length - 1]!;
      if (index >= 0x80000000 || index > w.maxIndex) return undefined;
      return { branch, index };
    }
  }
  return undefined;
}
