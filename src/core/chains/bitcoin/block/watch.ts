import { sha256 } from '@noble/hashes/sha2.js';
import { inputOutpoint, outputValue, type ParsedBlock, toHex, toHexReversed } from './parse.ts';
import { blockTxid } from './txid.ts';

/**
 * What the watchtower watches (invariant I7): every custody output script, every known custody
 * UTXO, and the witness scripts of multisig wallets (so a spend is recognized by its witness even
 * if the UTXO was never seen — e.g. a key leaked and used outside Custos, T9).
 */
export interface WatchEntry {
  wallet: string;
  /** Output script (scriptPubKey). */
  script: Uint8Array;
  /** P2WSH / P2SH-P2WSH witness script, when the wallet is multisig. */
  witnessScript?: Uint8Array;
  /** Single-sig (wpkh) public key: a P2WPKH spend reveals it in the witness. */
  pubkey?: Uint8Array;
}

export interface WatchedUtxo {
  txid: string;
  vout: number;
  wallet: string;
  value: number;
}

/**
 * Pre-filter keys: 30-bit numbers (small integers in V8, so a Set lookup allocates nothing) read
 * straight from the block's bytes; only a hit builds the hex key of the exact map. The exact maps
 * decide; a pre-filter collision costs one string, never a wrong match.
 */
function fp(b: Uint8Array, off: number, len: number): number {
  if (len < 6) return len;
  const o = off + 2;
  return ((b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) ^ (len << 23)) & 0x3fffffff;
}

function outpointFp(b: Uint8Array, off: number): number {
  return (
    ((b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) ^ b[off + 32]!) & 0x3fffffff
  );
}

function u30(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) & 0x3fffffff;
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export class WatchIndex {
  private readonly scriptFp = new Set<number>();
  private readonly scripts = new Map<string, string>();
  private readonly witnessFp = new Set<number>();
  private readonly witness = new Map<string, string>();
  private readonly pubkeyFp = new Set<number>();
  private readonly pubkeys = new Map<string, string>();
  private readonly utxoFp = new Set<number>();
  private readonly utxos = new Map<string, WatchedUtxo>();

  constructor(entries: Iterable<WatchEntry> = [], utxos: Iterable<WatchedUtxo> = []) {
    for (const e of entries) this.addScript(e);
    for (const u of utxos) this.addUtxo(u);
  }

  get size(): { scripts: number; utxos: number } {
    return { scripts: this.scripts.size, utxos: this.utxos.size };
  }

  addScript(e: WatchEntry): void {
    this.scriptFp.add(fp(e.script, 0, e.script.length));
    this.scripts.set(toHex(e.script), e.wallet);
    if (e.witnessScript) {
      this.witnessFp.add(fp(e.witnessScript, 0, e.witnessScript.length));
      this.witness.set(toHex(sha256(e.witnessScript)), e.wallet);
    }
    if (e.pubkey) {
      this.pubkeyFp.add(u30(e.pubkey, 1));
      this.pubkeys.set(toHex(e.pubkey), e.wallet);
    }
  }

  /** Wallet of the 33-byte public key at b[off..off+33]. */
  pubkeyWallet(b: Uint8Array, off = 0): string | undefined {
    if (!this.pubkeyFp.has(u30(b, off + 1))) return undefined;
    return this.pubkeys.get(toHex(b, off, off + 33));
  }

  addUtxo(u: WatchedUtxo): void {
    const txidBytes = new Uint8Array(33);
    for (let i = 0; i < 32; i++) txidBytes[i] = Number.parseInt(u.txid.slice(62 - i * 2, 64 - i * 2), 16);
    txidBytes[32] = u.vout & 0xff;
    this.utxoFp.add(outpointFp(txidBytes, 0));
    this.utxos.set(`${u.txid}:${u.vout}`, u);
  }

  removeUtxo(txid: string, vout: number): void {
    this.utxos.delete(`${txid}:${vout}`);
  }

  scriptWallet(b: Uint8Array, off: number, len: number): string | undefined {
    if (!this.scriptFp.has(fp(b, off, len))) return undefined;
    return this.scripts.get(toHex(b, off, off + len));
  }

  /** The watched UTXO the 36-byte outpoint at b[off..] names (txid internal order, vout LE). */
  utxoAt(b: Uint8Array, off: number): WatchedUtxo | undefined {
    if (!this.utxoFp.has(outpointFp(b, off))) return undefined;
    return this.utxos.get(`${toHexReversed(b, off, off + 32)}:${u32(b, off + 32)}`);
  }

  /** Wallet of the multisig witness script at b[off..off+len] (matched by its SHA-256). */
  witnessWallet(b: Uint8Array, off: number, len: number): string | undefined {
    if (!this.witnessFp.has(fp(b, off, len))) return undefined;
    return this.witness.get(toHex(sha256(b.subarray(off, off + len))));
  }
}

/** Wallet whose key or script signed input `i`, judged from its witness alone (no UTXO needed). */
function witnessOwner(blk: ParsedBlock, i: number, index: WatchIndex): string | undefined {
  const items = blk.inWitItems[i]!;
  if (items === 0) return undefined;
  const off = blk.inWitLast[i]!;
  const len = blk.inWitLastLen[i]!;
  // P2WPKH / P2SH-P2WPKH: [signature, 33-byte public key].
  if (items === 2 && len === 33) return index.pubkeyWallet(blk.bytes, off);
  // P2WSH / P2SH-P2WSH multisig: [<empty>, signatures…, OP_m … OP_n OP_CHECKMULTISIG].
  if (items >= 3 && len >= 37 && blk.bytes[off + len - 1] === 0xae)
    return index.witnessWallet(blk.bytes, off, len);
  return undefined;
}

export interface OutflowTx {
  tx: number;
  txid: string;
  wallets: string[];
  spent: {
    input: number;
    txid: string;
    vout: number;
    wallet: string;
    value?: number;
    via: 'utxo' | 'witness';
  }[];
  outputs: { output: number; script: string; value: number; wallet?: string }[];
}

export interface BlockScan {
  /** Transactions that spend custody coins (signed by Custos or not). */
  outflows: OutflowTx[];
  /** New custody UTXOs created in this block. */
  created: (WatchedUtxo & { tx: number; output: number })[];
}

/**
 * Matches a parsed block against the watch index, in transaction order (a coin created and spent
 * in the same block is seen). The index is updated as it goes: created UTXOs are added, spent ones
 * removed; the caller persists `created` and `outflows` and raises alerts for unsigned txids.
 */
export function scanBlock(blk: ParsedBlock, index: WatchIndex): BlockScan {
  const outflows: OutflowTx[] = [];
  const created: BlockScan['created'] = [];
  const b = blk.bytes;
  for (let t = 0; t < blk.txCount; t++) {
    let spent: OutflowTx['spent'] | undefined;
    const i0 = blk.txFirstInput[t]!;
    const i1 = blk.txFirstInput[t + 1]!;
    for (let i = i0; i < i1; i++) {
      const u = index.utxoAt(b, blk.inPrevout[i]!);
      if (u) {
        spent ??= [];
        spent.push({
          input: i - i0,
          txid: u.txid,
          vout: u.vout,
          wallet: u.wallet,
          value: u.value,
          via: 'utxo',
        });
        continue;
      }
      const wallet = witnessOwner(blk, i, index);
      if (!wallet) continue;
      spent ??= [];
      spent.push({ input: i - i0, ...inputOutpoint(blk, i), wallet, via: 'witness' });
    }
    const o0 = blk.txFirstOutput[t]!;
    const o1 = blk.txFirstOutput[t + 1]!;
    let txid: string | undefined;
    for (let o = o0; o < o1; o++) {
      const wallet = index.scriptWallet(b, blk.outScript[o]!, blk.outScriptLen[o]!);
      if (!wallet) continue;
      txid ??= blockTxid(blk, t);
      const u = { txid, vout: o - o0, wallet, value: outputValue(blk, o) };
      created.push({ ...u, tx: t, output: o - o0 });
      index.addUtxo(u);
    }
    if (!spent) continue;
    for (const s of spent) index.removeUtxo(s.txid, s.vout);
    txid ??= blockTxid(blk, t);
    const outputs: OutflowTx['outputs'] = [];
    for (let o = o0; o < o1; o++) {
      const off = blk.outScript[o]!;
      const len = blk.outScriptLen[o]!;
      outputs.push({
        output: o - o0,
        script: toHex(b, off, off + len),
        value: outputValue(blk, o),
        wallet: index.scriptWallet(b, off, len),
      });
    }
    outflows.push({ tx: t, txid, wallets: [...new Set(spent.map((s) => s.wallet))], spent, outputs });
  }
  return { outflows, created };
}

/** A critical alert for an outflow not signed through Custos (I7, T9). */
export interface UnmatchedOutflowAlert {
  severity: 'critical';
  code: 'UNMATCHED_OUTFLOW';
  chain: string;
  wallet: string;
  txid: string;
  block: { height: number; hash: string };
  details: { spent: OutflowTx['spent']; outputs: OutflowTx['outputs'] };
}

export function unmatchedOutflows(
  scan: BlockScan,
  isSigned: (txid: string) => boolean,
  chain: string,
  block: { height: number; hash: string },
): UnmatchedOutflowAlert[] {
  const alerts: UnmatchedOutflowAlert[] = [];
  for (const f of scan.outflows) {
    if (isSigned(f.txid)) continue;
    for (const wallet of f.wallets)
      alerts.push({
        severity: 'critical',
        code: 'UNMATCHED_OUTFLOW',
        chain,
        wallet,
        txid: f.txid,
        block,
        details: { spent: f.spent.filter((s) => s.wallet === wallet), outputs: f.outputs },
      });
  }
  return alerts;
}
