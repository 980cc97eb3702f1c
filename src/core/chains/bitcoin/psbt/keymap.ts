import { BitcoinInputError } from '../errors.ts';

/**
 * Strict pre-parse of a PSBT's key-value maps (BIP 174 §Specification, BIP 370), run before the
 * bytes reach @scure/btc-signer so that framing rules that library might treat leniently are
 * enforced here with typed codes:
 *  - magic `psbt\xff`; compact sizes minimally encoded; no trailing bytes;
 *  - "Keys within each scope should never be duplicated" → PSBT_DUPLICATE_KEY (a duplicate lets two
 *    parsers see two different PSBTs in one file: one shown to the approver, one signed);
 *  - version 0 or 2 only; v2-only fields forbidden in v0 and v0-only fields forbidden in v2;
 *    fields BIP 370 makes required in v2 present; height/time lock bounds;
 *  - v0 unsigned tx in non-witness serialization with empty scriptSigs, one map per input/output.
 */
export interface KeyValue {
  type: number;
  key: Uint8Array;
  value: Uint8Array;
}

export interface PsbtKeyMaps {
  version: 0 | 2;
  global: KeyValue[];
  inputs: KeyValue[][];
  outputs: KeyValue[][];
}

const MAGIC = [0x70, 0x73, 0x62, 0x74, 0xff];

// BIP 174 / 370 key types.
const G_UNSIGNED_TX = 0x00;
const G_TX_VERSION = 0x02;
const G_FALLBACK_LOCKTIME = 0x03;
const G_INPUT_COUNT = 0x04;
const G_OUTPUT_COUNT = 0x05;
const G_TX_MODIFIABLE = 0x06;
const G_VERSION = 0xfb;
const IN_PREVIOUS_TXID = 0x0e;
const IN_OUTPUT_INDEX = 0x0f;
const IN_SEQUENCE = 0x10;
const IN_REQUIRED_TIME_LOCKTIME = 0x11;
const IN_REQUIRED_HEIGHT_LOCKTIME = 0x12;
const OUT_AMOUNT = 0x03;
const OUT_SCRIPT = 0x04;

const V2_ONLY_GLOBAL = [G_TX_VERSION, G_FALLBACK_LOCKTIME, G_INPUT_COUNT, G_OUTPUT_COUNT, G_TX_MODIFIABLE];
const V2_ONLY_INPUT = [
  IN_PREVIOUS_TXID,
  IN_OUTPUT_INDEX,
  IN_SEQUENCE,
  IN_REQUIRED_TIME_LOCKTIME,
  IN_REQUIRED_HEIGHT_LOCKTIME,
];
const V2_ONLY_OUTPUT = [OUT_AMOUNT, OUT_SCRIPT];

function fail(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new BitcoinInputError(code, message, { details });
}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length - this.pos;
  }
  byte(what: string): number {
    if (this.pos >= this.b.length) fail('PSBT_TRUNCATED', `unexpected end of data reading ${what}`);
    return this.b[this.pos++]!;
  }
  bytes(n: number, what: string): Uint8Array {
    if (n > this.left)
      fail('PSBT_TRUNCATED', `${what} runs past the end of the data`, { need: n, left: this.left });
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u32(what: string): number {
    const x = this.bytes(4, what);
    return (x[0]! | (x[1]! << 8) | (x[2]! << 16) | (x[3]! << 24)) >>> 0;
  }
  /** Bitcoin CompactSize, refusing non-minimal encodings (one value, one encoding). */
  compact(what: string): number {
    const first = this.byte(what);
    if (first < 0xfd) return first;
    let n: number;
    if (first === 0xfd) {
      const x = this.bytes(2, what);
      n = x[0]! | (x[1]! << 8);
      if (n < 0xfd) fail('PSBT_NONCANONICAL_SIZE', `non-minimal compact size in ${what}`);
    } else if (first === 0xfe) {
      n = this.u32(what);
      if (n <= 0xffff) fail('PSBT_NONCANONICAL_SIZE', `non-minimal compact size in ${what}`);
    } else {
      const lo = this.u32(what);
      const hi = this.u32(what);
      if (hi === 0 && lo <= 0xffffffff) fail('PSBT_NONCANONICAL_SIZE', `non-minimal compact size in ${what}`);
      fail('PSBT_TRUNCATED', `size in ${what} exceeds the data`);
    }
    return n;
  }
}

function readMap(r: Reader, scope: string): KeyValue[] {
  const out: KeyValue[] = [];
  const seen = new Set<string>();
  for (;;) {
    const keyLen = r.compact(`${scope} key length`);
    if (keyLen === 0) return out; // 0x00 separator ends the map
    const key = r.bytes(keyLen, `${scope} key`);
    const kr = new Reader(key);
    const type = kr.compact(`${scope} key type`);
    const valueLen = r.compact(`${scope} value length`);
    const value = r.bytes(valueLen, `${scope} value`);
    const id = hexOf(key);
    if (seen.has(id))
      fail('PSBT_DUPLICATE_KEY', `duplicate key in ${scope}`, { scope, keyType: type, keyHex: hexOf(key) });
    seen.add(id);
    out.push({ type, key, value });
  }
}

function hexOf(b: Uint8Array): string {
  // Zero-copy view; native hex (this runs once per PSBT key, for the duplicate-key check).
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

function get(map: KeyValue[], type: number): KeyValue | undefined {
  return map.find((kv) => kv.type === type && kv.key.length === 1);
}

function leU32(v: Uint8Array, what: string): number {
  if (v.length !== 4) fail('PSBT_FIELD_INVALID', `${what} must be 4 bytes`, { length: v.length });
  return (v[0]! | (v[1]! << 8) | (v[2]! << 16) | (v[3]! << 24)) >>> 0;
}

/** Counts inputs/outputs of a v0 unsigned tx, checking BIP 174's rules for it. */
function unsignedTxCounts(tx: Uint8Array): { inputs: number; outputs: number } {
  try {
    return parseUnsignedTx(tx);
  } catch (e) {
    // BIP 174: "The transaction must be in the old serialization format (without witnesses)."
    // Parsed as non-witness first (as Bitcoin Core does: 0x00 is then a zero input count); if that
    // fails and the bytes carry the segwit marker and flag, say so.
    if (tx[4] === 0x00 && tx[5] === 0x01)
      fail('PSBT_UNSIGNED_TX_INVALID', 'unsigned tx uses witness serialization');
    if (e instanceof BitcoinInputError && e.code !== 'PSBT_TRUNCATED') throw e;
    fail('PSBT_UNSIGNED_TX_INVALID', 'unsigned tx is malformed');
  }
}

function parseUnsignedTx(tx: Uint8Array): { inputs: number; outputs: number } {
  const r = new Reader(tx);
  r.u32('tx version');
  const n = r.compact('tx input count');
  for (let i = 0; i < n; i++) {
    r.bytes(36, 'tx outpoint');
    const sl = r.compact('tx scriptSig length');
    // BIP 174: the unsigned transaction's scriptSigs and witnesses must be empty.
    if (sl !== 0)
      fail('PSBT_UNSIGNED_TX_INVALID', 'unsigned tx input has a non-empty scriptSig', { input: i });
    r.u32('tx sequence');
  }
  const m = r.compact('tx output count');
  for (let i = 0; i < m; i++) {
    r.bytes(8, 'tx amount');
    r.bytes(r.compact('tx script length'), 'tx script');
  }
  r.u32('tx locktime');
  if (r.left !== 0) fail('PSBT_TRUNCATED', 'trailing bytes after the unsigned tx', { left: r.left });
  return { inputs: n, outputs: m };
}

export function parsePsbtKeyMaps(bytes: Uint8Array): PsbtKeyMaps {
  if (bytes.length < 5 || MAGIC.some((m, i) => bytes[i] !== m))
    fail('PSBT_BAD_MAGIC', 'data does not start with the PSBT magic "psbt\\xff"');
  const r = new Reader(bytes);
  r.pos = 5;
  const global = readMap(r, 'global');
  // Global fields Custos interprets carry no key data (BIP 174/370): "PSBT with invalid global
  // transaction typed key" must not be read as "field absent".
  for (const kv of global)
    if ([G_UNSIGNED_TX, ...V2_ONLY_GLOBAL, G_VERSION].includes(kv.type) && kv.key.length !== 1)
      fail('PSBT_FIELD_INVALID', 'global field with non-empty key data', { keyType: kv.type });
  const ver = get(global, G_VERSION);
  const version = ver ? leU32(ver.value, 'PSBT_GLOBAL_VERSION') : 0;
  if (version !== 0 && version !== 2)
    fail('PSBT_UNSUPPORTED_VERSION', `PSBT version ${version} is not 0 or 2`, { version });
  const has = (type: number) => get(global, type) !== undefined;
  let nIn: number;
  let nOut: number;
  if (version === 0) {
    const tx = get(global, G_UNSIGNED_TX);
    if (!tx) fail('PSBT_MISSING_FIELD', 'PSBTv0 without PSBT_GLOBAL_UNSIGNED_TX', { field: 'unsigned_tx' });
    for (const t of V2_ONLY_GLOBAL)
      if (has(t)) fail('PSBT_FIELD_NOT_ALLOWED', 'PSBTv2-only global field in a PSBTv0', { keyType: t });
    ({ inputs: nIn, outputs: nOut } = unsignedTxCounts(tx.value));
  } else {
    if (has(G_UNSIGNED_TX))
      fail('PSBT_FIELD_NOT_ALLOWED', 'PSBT_GLOBAL_UNSIGNED_TX is forbidden in PSBTv2', { keyType: 0 });
    for (const [t, name] of [
      [G_TX_VERSION, 'tx_version'],
      [G_INPUT_COUNT, 'input_count'],
      [G_OUTPUT_COUNT, 'output_count'],
    ] as const)
      if (!has(t))
        fail('PSBT_MISSING_FIELD', `PSBTv2 without PSBT_GLOBAL_${name.toUpperCase()}`, { field: name });
    nIn = countOf(get(global, G_INPUT_COUNT)!.value, 'input count');
    nOut = countOf(get(global, G_OUTPUT_COUNT)!.value, 'output count');
  }
  // Each map is at least one byte: refuse absurd counts before allocating.
  if (nIn + nOut > r.left) fail('PSBT_TRUNCATED', 'fewer maps than the declared inputs and outputs');
  const inputs: KeyValue[][] = [];
  for (let i = 0; i < nIn; i++) inputs.push(readMap(r, `input ${i}`));
  const outputs: KeyValue[][] = [];
  for (let i = 0; i < nOut; i++) outputs.push(readMap(r, `output ${i}`));
  if (r.left !== 0) fail('PSBT_TRAILING_DATA', 'bytes after the last output map', { left: r.left });

  inputs.forEach((m, i) => {
    const present = (t: number) => get(m, t) !== undefined;
    if (version === 0) {
      for (const t of V2_ONLY_INPUT)
        if (present(t))
          fail('PSBT_FIELD_NOT_ALLOWED', 'PSBTv2-only input field in a PSBTv0', { input: i, keyType: t });
      return;
    }
    if (!present(IN_PREVIOUS_TXID))
      fail('PSBT_MISSING_FIELD', 'PSBTv2 input without PREVIOUS_TXID', { input: i });
    if (!present(IN_OUTPUT_INDEX))
      fail('PSBT_MISSING_FIELD', 'PSBTv2 input without OUTPUT_INDEX', { input: i });
    // BIP 370: time locks are ≥ 500000000, height locks are > 0 and < 500000000.
    const tl = get(m, IN_REQUIRED_TIME_LOCKTIME);
    if (tl && leU32(tl.value, 'required time locktime') < 500_000_000)
      fail('PSBT_BAD_LOCKTIME_FIELD', 'PSBT_IN_REQUIRED_TIME_LOCKTIME below 500000000', { input: i });
    const hl = get(m, IN_REQUIRED_HEIGHT_LOCKTIME);
    if (hl) {
      const h = leU32(hl.value, 'required height locktime');
      if (h === 0 || h >= 500_000_000)
        fail('PSBT_BAD_LOCKTIME_FIELD', 'PSBT_IN_REQUIRED_HEIGHT_LOCKTIME must be in 1..499999999', {
          input: i,
        });
    }
  });
  outputs.forEach((m, i) => {
    const present = (t: number) => get(m, t) !== undefined;
    if (version === 0) {
      for (const t of V2_ONLY_OUTPUT)
        if (present(t))
          fail('PSBT_FIELD_NOT_ALLOWED', 'PSBTv2-only output field in a PSBTv0', { output: i, keyType: t });
      return;
    }
    if (!present(OUT_AMOUNT)) fail('PSBT_MISSING_FIELD', 'PSBTv2 output without AMOUNT', { output: i });
    if (!present(OUT_SCRIPT)) fail('PSBT_MISSING_FIELD', 'PSBTv2 output without SCRIPT', { output: i });
  });
  return { version: version as 0 | 2, global, inputs, outputs };
}

function countOf(v: Uint8Array, what: string): number {
  const r = new Reader(v);
  const n = r.compact(what);
  if (r.left !== 0) fail('PSBT_FIELD_INVALID', `${what} has trailing bytes`);
  return n;
}

function compactBytes(n: number): number[] {
  if (n < 0xfd) return [n];
  if (n <= 0xffff) return [0xfd, n & 0xff, n >> 8];
  return [0xfe, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
}

/** Serializes key maps back to PSBT bytes (the inverse of {@link parsePsbtKeyMaps}). */
export function serializePsbtKeyMaps(maps: Pick<PsbtKeyMaps, 'global' | 'inputs' | 'outputs'>): Uint8Array {
  let size = 5;
  const all = [maps.global, ...maps.inputs, ...maps.outputs];
  for (const m of all) {
    size += 1;
    for (const kv of m) size += 10 + kv.key.length + kv.value.length;
  }
  const out = new Uint8Array(size);
  out.set(MAGIC);
  let p = 5;
  const put = (xs: number[] | Uint8Array) => {
    out.set(xs, p);
    p += xs.length;
  };
  for (const m of all) {
    for (const kv of m) {
      put(compactBytes(kv.key.length));
      put(kv.key);
      put(compactBytes(kv.value.length));
      put(kv.value);
    }
    put([0]);
  }
  return out.slice(0, p);
}
