import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { RawTx, Transaction } from '@scure/btc-signer';
import type { WalletUtxo } from '../../src/core/chains/bitcoin/build.ts';
import { withChecksum } from '../../src/core/chains/bitcoin/descriptor/checksum.ts';
import { type Branch, deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import { type KeyValue, parsePsbtKeyMaps } from '../../src/core/chains/bitcoin/psbt/keymap.ts';
import { type BitcoinWallet, parseBitcoinWallet } from '../../src/core/chains/bitcoin/wallet.ts';
import { type Intent, parseIntent } from '../../src/core/intent/index.ts';

/** Shared regtest fixtures: three co-signer roots, DMM-shaped and wsh wallets, funding txs. */
export const REGTEST = 'bip122:0f9188f13cb7b2c71f2a335e3a4fc328';
export const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };
export const VECTORS = new URL('../../../shared/vectors/', import.meta.url).pathname;

export const roots = [1, 2, 3].map((i) => HDKey.fromMasterSeed(new Uint8Array(32).fill(i), TEST_VERSIONS));

export function fp(k: HDKey): string {
  return k.fingerprint.toString(16).padStart(8, '0');
}

/** BIP 48 multisig account keys (script type 1' = P2SH-P2WSH, 2' = P2WSH). */
export function multisigDescriptor(kind: 'sh-wsh' | 'wsh', m = 2): string {
  const st = kind === 'sh-wsh' ? 1 : 2;
  const keys = roots.map(
    (r) => `[${fp(r)}/48h/1h/0h/${st}h]${r.derive(`m/48'/1'/0'/${st}'`).publicExtendedKey}/<0;1>/*`,
  );
  const body = `sortedmulti(${m},${keys.join(',')})`;
  return withChecksum(kind === 'sh-wsh' ? `sh(wsh(${body}))` : `wsh(${body})`);
}

export function wpkhDescriptor(): string {
  const r = roots[0]!;
  return withChecksum(`wpkh([${fp(r)}/84h/1h/0h]${r.derive("m/84'/1'/0'").publicExtendedKey}/<0;1>/*)`);
}

export function wallet(kind: 'sh-wsh' | 'wsh' | 'wpkh', ceiling = 50): BitcoinWallet {
  return parseBitcoinWallet({
    network: 'regtest',
    descriptor: kind === 'wpkh' ? wpkhDescriptor() : multisigDescriptor(kind),
    feeRateCeilingSatVb: ceiling,
  });
}

export function txidOf(raw: Uint8Array): string {
  const tx = RawTx.decode(raw);
  return hex.encode(
    sha256(sha256(RawTx.encode({ ...tx, segwitFlag: false, witnesses: undefined }))).reverse(),
  );
}

/** A previous transaction paying `value` to the wallet's address at branch/index (and a decoy output). */
export function fund(
  w: BitcoinWallet,
  value: bigint,
  index: number,
  branch: Branch = 'receive',
  salt = 0,
): WalletUtxo {
  const d = deriveOutput(w, branch, index);
  const prev = new Transaction({ allowUnknownOutputs: true });
  prev.addInput({ txid: new Uint8Array(32).fill(0xa0 + (salt % 16)), index: index + salt * 1000 });
  prev.addOutput({ script: new Uint8Array([0x51]), amount: 1000n });
  prev.addOutput({ script: d.script, amount: value });
  const raw = prev.toBytes(true, false);
  return { txid: txidOf(raw), vout: 1, value, branch, index, prevTx: raw };
}

export const DESTINATION = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
export const ATTACKER = 'bcrt1qqzh2ngh97ru8dfvgma25d6r595wcwqy0cee4cc';

export function intent(over: Partial<Intent> = {}): Intent {
  return parseIntent({
    version: 1,
    id: '3b241101-e2bb-4255-8caf-4136c566a962',
    chain: REGTEST,
    asset: `${REGTEST}/slip44:1`,
    wallet: 'btc-cold-1',
    destination: DESTINATION,
    amount: '150000000',
    maxFee: '100000',
    reference: 'withdrawal 42',
    requestedBy: 'svc-backoffice',
    createdAt: '2026-01-31T12:00:00Z',
    expiresAt: '2026-02-01T12:00:00Z',
    ...over,
  });
}

/**
 * Byte-level PSBT editing for attack tests: what a compromised coordinator can do, including
 * edits btc-signer's own API refuses to make. v0 only; `tx` is the decoded unsigned transaction.
 */
export interface EditableMaps {
  global: KeyValue[];
  inputs: KeyValue[][];
  outputs: KeyValue[][];
  tx: ReturnType<typeof RawTx.decode>;
}

export function editPsbt(psbt: Uint8Array, fn: (m: EditableMaps) => void): Uint8Array {
  const maps = parsePsbtKeyMaps(psbt);
  const txKv = maps.global.find((kv) => kv.type === 0 && kv.key.length === 1)!;
  const m: EditableMaps = {
    global: maps.global,
    inputs: maps.inputs,
    outputs: maps.outputs,
    tx: RawTx.decode(txKv.value),
  };
  fn(m);
  const global = m.global.map((kv) =>
    kv.type === 0 && kv.key.length === 1 ? { ...kv, value: RawTx.encode(m.tx) } : kv,
  );
  const out: number[] = [0x70, 0x73, 0x62, 0x74, 0xff];
  const map = (kvs: KeyValue[]) => {
    for (const kv of kvs)
      out.push(...compactSize(kv.key.length), ...kv.key, ...compactSize(kv.value.length), ...kv.value);
    out.push(0);
  };
  map(global);
  m.inputs.forEach(map);
  m.outputs.forEach(map);
  return new Uint8Array(out);
}

export function compactSize(n: number): number[] {
  if (n < 0xfd) return [n];
  if (n <= 0xffff) return [0xfd, n & 0xff, n >> 8];
  return [0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
}
