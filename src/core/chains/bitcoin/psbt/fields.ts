import { BitcoinInputError } from '../errors.ts';
import { ByteReader, parseRawTx, type RawTxView, reversedHex } from '../tx/raw.ts';
import { type KeyValue, type PsbtKeyMaps, parsePsbtKeyMaps } from './keymap.ts';

/**
 * The co-signer's PSBT reader: the strict key-map pre-parse, then a strict decoding of exactly the
 * fields the verifier and signer interpret (BIP 174 / 370 / 371 key and value layouts). It does
 * not go through @scure/btc-signer, whose full decode (every public key decompressed, every
 * previous transaction re-parsed) costs tens of milliseconds per 10-input PSBT; `decodePsbt` is
 * the full-depth decoder used by the CLI and the coordinator. Fields not interpreted here are
 * kept byte-for-byte (they are never signed over) and ignored, as BIP 174 asks of unknown types.
 */
export interface KeyOrigin {
  pubkey: Uint8Array;
  fingerprint: number;
  path: number[];
}

export interface PsbtInputView {
  /** Previous txid in internal byte order, and its display hex. */
  prevHash: Uint8Array;
  txid: string;
  vout: number;
  sequence: number;
  nonWitnessUtxo?: RawTxView;
  witnessUtxo?: { amount: bigint; script: Uint8Array };
  partialSigs: { pubkey: Uint8Array; signature: Uint8Array }[];
  sighashType?: number;
  redeemScript?: Uint8Array;
  witnessScript?: Uint8Array;
  bip32: KeyOrigin[];
  tapBip32: KeyOrigin[];
  tapKeySig?: Uint8Array;
  finalized: boolean;
}

export interface PsbtOutputView {
  amount: bigint;
  script: Uint8Array;
  redeemScript?: Uint8Array;
  witnessScript?: Uint8Array;
  bip32: KeyOrigin[];
  tapBip32: KeyOrigin[];
}

export interface PsbtView {
  version: 0 | 2;
  txVersion: number;
  locktime: number;
  inputs: PsbtInputView[];
  outputs: PsbtOutputView[];
  maps: PsbtKeyMaps;
}

function bad(message: string, details: Record<string, unknown>): never {
  throw new BitcoinInputError('PSBT_FIELD_INVALID', message, { details });
}

function keyOnly(kv: KeyValue, where: Record<string, unknown>): void {
  if (kv.key.length !== 1) bad('field takes no key data', { ...where, keyType: kv.type });
}

function u32le(v: Uint8Array, what: string, where: Record<string, unknown>): number {
  if (v.length !== 4) bad(`${what} must be 4 bytes`, where);
  return (v[0]! | (v[1]! << 8) | (v[2]! << 16) | (v[3]! << 24)) >>> 0;
}

function pubkeyOf(kv: KeyValue, where: Record<string, unknown>): Uint8Array {
  const pk = kv.key.subarray(1);
  const okLen = (pk.length === 33 && (pk[0] === 2 || pk[0] === 3)) || (pk.length === 65 && pk[0] === 4);
  if (!okLen) bad('public key in key data has a wrong length or prefix', { ...where, keyType: kv.type });
  return pk;
}

/** BIP 32 derivation value: 4-byte fingerprint then 4-byte little-endian indexes. */
function origin(v: Uint8Array, where: Record<string, unknown>): { fingerprint: number; path: number[] } {
  if (v.length < 4 || v.length % 4 !== 0) bad('BIP 32 derivation value has a wrong length', where);
  const fingerprint = ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
  const path: number[] = [];
  for (let i = 4; i < v.length; i += 4) path.push(u32le(v.subarray(i, i + 4), 'path step', where));
  return { fingerprint, path };
}

/** BIP 371 tap derivation value: compact count of 32-byte leaf hashes, then a BIP 32 origin. */
function tapOrigin(kv: KeyValue, where: Record<string, unknown>): KeyOrigin {
  if (kv.key.length !== 33) bad('taproot derivation key must be a 32-byte x-only key', where);
  const r = new ByteReader(kv.value, 'PSBT_FIELD_INVALID');
  const n = r.compact();
  r.bytes(n * 32);
  return { pubkey: kv.key.subarray(1), ...origin(r.bytes(r.left), where) };
}

function witnessUtxo(v: Uint8Array, where: Record<string, unknown>) {
  const r = new ByteReader(v, 'PSBT_FIELD_INVALID');
  const amount = r.u64();
  const script = r.bytes(r.compact());
  if (r.left !== 0) bad('witness_utxo has trailing bytes', where);
  return { amount, script };
}

function readInput(
  kvs: KeyValue[],
  where: Record<string, unknown>,
  base?: { prevHash: Uint8Array; vout: number; sequence: number },
) {
  const inp: Partial<PsbtInputView> & {
    partialSigs: PsbtInputView['partialSigs'];
    bip32: KeyOrigin[];
    tapBip32: KeyOrigin[];
  } = {
    partialSigs: [],
    bip32: [],
    tapBip32: [],
    finalized: false,
    ...(base ?? {}),
  };
  for (const kv of kvs) {
    switch (kv.type) {
      case 0x00:
        keyOnly(kv, where);
        try {
          inp.nonWitnessUtxo = parseRawTx(kv.value);
        } catch (cause) {
          throw new BitcoinInputError('PSBT_FIELD_INVALID', 'non_witness_utxo is not a transaction', {
            cause,
            details: where,
          });
        }
        break;
      case 0x01:
        keyOnly(kv, where);
        inp.witnessUtxo = witnessUtxo(kv.value, where);
        break;
      case 0x02: {
        const pubkey = pubkeyOf(kv, where);
        // DER signature (BIP 66: 8..72 bytes) plus one sighash byte.
        if (kv.value.length < 9 || kv.value.length > 73 || kv.value[0] !== 0x30)
          bad('partial signature is not DER + sighash', where);
        inp.partialSigs.push({ pubkey, signature: kv.value });
        break;
      }
      case 0x03:
        keyOnly(kv, where);
        inp.sighashType = u32le(kv.value, 'sighash type', where);
        break;
      case 0x04:
        keyOnly(kv, where);
        inp.redeemScript = kv.value;
        break;
      case 0x05:
        keyOnly(kv, where);
        inp.witnessScript = kv.value;
        break;
      case 0x06:
        inp.bip32.push({ pubkey: pubkeyOf(kv, where), ...origin(kv.value, where) });
        break;
      case 0x07:
      case 0x08:
        keyOnly(kv, where);
        inp.finalized = true;
        break;
      case 0x0e:
        keyOnly(kv, where);
        if (kv.value.length !== 32) bad('previous txid must be 32 bytes', where);
        inp.prevHash = kv.value;
        break;
      case 0x0f:
        keyOnly(kv, where);
        inp.vout = u32le(kv.value, 'output index', where);
        break;
      case 0x10:
        keyOnly(kv, where);
        inp.sequence = u32le(kv.value, 'sequence', where);
        break;
      case 0x13:
        keyOnly(kv, where);
        if (kv.value.length !== 64 && kv.value.length !== 65)
          bad('taproot key signature must be 64 or 65 bytes', where);
        inp.tapKeySig = kv.value;
        break;
      case 0x16:
        inp.tapBip32.push(tapOrigin(kv, where));
        break;
      case 0x17:
        keyOnly(kv, where);
        if (kv.value.length !== 32) bad('taproot internal key must be 32 bytes', where);
        break;
    }
  }
  inp.sequence ??= 0xffffffff; // BIP 370: absent PSBT_IN_SEQUENCE means final
  inp.txid = reversedHex(inp.prevHash!);
  return inp as PsbtInputView;
}

function readOutput(
  kvs: KeyValue[],
  where: Record<string, unknown>,
  base?: { amount: bigint; script: Uint8Array },
) {
  const out: Partial<PsbtOutputView> & { bip32: KeyOrigin[]; tapBip32: KeyOrigin[] } = {
    bip32: [],
    tapBip32: [],
    ...(base ?? {}),
  };
  for (const kv of kvs) {
    switch (kv.type) {
      case 0x00:
        keyOnly(kv, where);
        out.redeemScript = kv.value;
        break;
      case 0x01:
        keyOnly(kv, where);
        out.witnessScript = kv.value;
        break;
      case 0x02:
        out.bip32.push({ pubkey: pubkeyOf(kv, where), ...origin(kv.value, where) });
        break;
      case 0x03: {
        keyOnly(kv, where);
        if (kv.value.length !== 8) bad('output amount must be 8 bytes', where);
        out.amount = new ByteReader(kv.value).u64();
        break;
      }
      case 0x04:
        keyOnly(kv, where);
        out.script = kv.value;
        break;
      case 0x07:
        out.tapBip32.push(tapOrigin(kv, where));
        break;
    }
  }
  return out as PsbtOutputView;
}

/** BIP 370 "Determining Lock Time". Throws when no single locktime satisfies every input. */
function v2Locktime(maps: PsbtKeyMaps): number {
  const get = (kvs: KeyValue[], t: number) => kvs.find((kv) => kv.type === t && kv.key.length === 1)?.value;
  const times: number[] = [];
  const heights: number[] = [];
  let anyLock = false;
  let heightOk = true;
  let timeOk = true;
  for (const m of maps.inputs) {
    const t = get(m, 0x11);
    const h = get(m, 0x12);
    if (t) times.push(u32le(t, 'time locktime', {}));
    if (h) heights.push(u32le(h, 'height locktime', {}));
    if (t || h) anyLock = true;
    if (t && !h) heightOk = false;
    if (h && !t) timeOk = false;
  }
  if (!anyLock) {
    const fb = get(maps.global, 0x03);
    return fb ? u32le(fb, 'fallback locktime', {}) : 0;
  }
  if (heightOk && heights.length > 0) return Math.max(...heights);
  if (timeOk && times.length > 0) return Math.max(...times);
  throw new BitcoinInputError('PSBT_LOCKTIME_CONFLICT', 'inputs require both a height and a time locktime');
}

export function readPsbt(bytes: Uint8Array): PsbtView {
  const maps = parsePsbtKeyMaps(bytes);
  const get = (t: number) => maps.global.find((kv) => kv.type === t && kv.key.length === 1)?.value;
  if (maps.version === 0) {
    const tx = parseRawTx(get(0x00)!, false);
    return {
      version: 0,
      txVersion: tx.version,
      locktime: tx.locktime,
      inputs: maps.inputs.map((kvs, i) => {
        const t = tx.inputs[i]!;
        return readInput(kvs, { input: i }, { prevHash: t.prevHash, vout: t.vout, sequence: t.sequence });
      }),
      outputs: maps.outputs.map((kvs, i) => readOutput(kvs, { output: i }, tx.outputs[i]!)),
      maps,
    };
  }
  return {
    version: 2,
    txVersion: u32le(get(0x02)!, 'tx version', {}) | 0,
    locktime: v2Locktime(maps),
    inputs: maps.inputs.map((kvs, i) => readInput(kvs, { input: i })),
    outputs: maps.outputs.map((kvs, i) => readOutput(kvs, { output: i })),
    maps,
  };
}
