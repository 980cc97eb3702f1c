import { readdirSync, readFileSync } from 'node:fs';
import { base64, hex } from '@scure/base';
import { Psbt } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { BitcoinInputError } from '../../src/core/chains/bitcoin/errors.ts';
import { decodePsbt, psbtFromBase64 } from '../../src/core/chains/bitcoin/psbt/decode.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { intent, VECTORS, wallet } from './fixtures.ts';

/**
 * Official PSBT vectors: every invalid one is refused with a typed PSBT_* code, every valid one
 * decodes (and bitcoinjs-lib agrees on the unsigned transaction where it can parse it).
 */
interface Item {
  case?: string;
  hex: string;
  base64: string;
}
interface Section {
  heading: string;
  items: Item[];
}
const bip = (n: number): Section[] =>
  JSON.parse(readFileSync(`${VECTORS}bips/bip${n}_test_vectors.json`, 'utf8')).sections;
const core = JSON.parse(readFileSync(`${VECTORS}bitcoin-core/rpc_psbt.json`, 'utf8')) as {
  invalid: string[];
  invalid_with_msg: [string, string][];
  valid: string[];
};

function rejectCode(bytes: Uint8Array | string): string {
  try {
    decodePsbt(typeof bytes === 'string' ? psbtFromBase64(bytes) : bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(BitcoinInputError);
    const code = (e as BitcoinInputError).code;
    expect(code).toMatch(/^PSBT_[A-Z_]+$/);
    return code;
  }
  throw new Error('decoded an invalid PSBT');
}

function sections(n: number, re: RegExp): Item[] {
  return bip(n)
    .filter((s) => re.test(s.heading))
    .flatMap((s) => s.items);
}

describe('BIP 174 / 370 / 371 vectors', () => {
  for (const n of [174, 370, 371]) {
    const invalid = sections(n, /following are invalid PSBTs/);
    const valid = sections(n, /following are valid PSBTs/);
    it(`BIP ${n}: ${invalid.length} invalid rejected with typed codes`, () => {
      expect(invalid.length).toBeGreaterThan(10);
      for (const it of invalid) {
        expect(hex.encode(base64.decode(it.base64))).toBe(it.hex);
        rejectCode(hex.decode(it.hex));
      }
    });
    it(`BIP ${n}: ${valid.length} valid decode`, () => {
      expect(valid.length).toBeGreaterThan(5);
      for (const it of valid)
        expect(decodePsbt(hex.decode(it.hex)).tx.inputsLength).toBeGreaterThanOrEqual(0);
    });
  }

  it('named BIP 174 cases get the specific code', () => {
    const byCase = new Map(sections(174, /invalid PSBTs/).map((i) => [i.case!, hex.decode(i.hex)]));
    expect(rejectCode(byCase.get('PSBT with duplicate keys in an input')!)).toBe('PSBT_DUPLICATE_KEY');
    expect(rejectCode(byCase.get('Network transaction, not PSBT format')!)).toBe('PSBT_BAD_MAGIC');
    expect(
      rejectCode(byCase.get('PSBT with unsigned tx serialized with witness serialization format')!),
    ).toBe('PSBT_UNSIGNED_TX_INVALID');
    const v370 = new Map(sections(370, /invalid PSBTs/).map((i) => [i.case!, hex.decode(i.hex)]));
    expect(rejectCode(v370.get('PSBTv0 but with PSBT_IN_SEQUENCE.')!)).toBe('PSBT_FIELD_NOT_ALLOWED');
    expect(rejectCode(v370.get('PSBTv2 missing PSBT_OUT_SCRIPT.')!)).toBe('PSBT_MISSING_FIELD');
    expect(rejectCode(v370.get('PSBTv2 with PSBT_IN_REQUIRED_HEIGHT_LOCKTIME of 0.')!)).toBe(
      'PSBT_BAD_LOCKTIME_FIELD',
    );
  });

  it('BIP 174 "fails signer checks" PSBTs never pass: scripts that do not match are refused', () => {
    const items = sections(174, /Fails Signer checks/);
    expect(items).toHaveLength(4);
    // The first (witness_utxo on a P2PKH input) is a structurally valid PSBT; the verifier refuses
    // it as INPUT_NOT_OURS (see attacks). The other three are refused at decode.
    for (const it of items.slice(1)) expect(rejectCode(hex.decode(it.hex))).toBe('PSBT_SCRIPT_MISMATCH');
  });

  it('BIP 370 v2 PSBTs decode as version 2', () => {
    for (const it of sections(370, /following are valid PSBTs/))
      expect(decodePsbt(hex.decode(it.hex)).version).toBe(2);
  });
});

describe('the co-signer path refuses every invalid vector too', () => {
  it('verifyPsbt never accepts an invalid PSBT and never throws on one', () => {
    const w = wallet('wsh');
    const all = [
      ...[174, 370, 371].flatMap((n) =>
        sections(n, /following are invalid PSBTs/).map((i) => hex.decode(i.hex)),
      ),
      ...core.invalid.map((p) => {
        try {
          return psbtFromBase64(p);
        } catch {
          return new Uint8Array([1]);
        }
      }),
      ...core.invalid_with_msg.map(([p]) => psbtFromBase64(p)),
    ];
    for (const bytes of all) {
      const r = verifyPsbt(intent(), bytes, w, () => undefined, { feeRateCeilingSatVb: 10 });
      expect(r.ok).toBe(false);
    }
    expect(all.length).toBeGreaterThan(100);
  });
});

describe('Bitcoin Core rpc_psbt.json', () => {
  it(`rejects all ${core.invalid.length} invalid`, () => {
    expect(core.invalid.length).toBe(41);
    for (const p of core.invalid) rejectCode(p);
  });
  it(`rejects all ${core.invalid_with_msg.length} invalid_with_msg`, () => {
    for (const [p] of core.invalid_with_msg) rejectCode(p);
  });
  it(`decodes all ${core.valid.length} valid, with the same unsigned tx as bitcoinjs-lib where it parses`, () => {
    let crossChecked = 0;
    for (const p of core.valid) {
      const { tx, version } = decodePsbt(psbtFromBase64(p));
      if (version !== 0) continue;
      let bjs: Psbt;
      try {
        bjs = Psbt.fromBase64(p);
      } catch {
        continue; // bitcoinjs-lib does not know some newer fields
      }
      expect(bjs.txInputs.length).toBe(tx.inputsLength);
      expect(bjs.txOutputs.map((o) => o.value)).toEqual(
        Array.from({ length: tx.outputsLength }, (_, i) => tx.getOutput(i).amount),
      );
      crossChecked++;
    }
    expect(crossChecked).toBeGreaterThan(10);
  });
});

describe('rust-bitcoin BIP 174 workflow files and bitcoinjs-lib fixtures', () => {
  const dir = `${VECTORS}rust-bitcoin/psbt_bip174/`;
  it('every PSBT step decodes', () => {
    const files = readdirSync(dir).filter((f) => /psbt/.test(f));
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) decodePsbt(hex.decode(readFileSync(dir + f, 'utf8').trim()));
  });

  it('bitcoinjs-lib bip174 invalid are rejected, valid decode', () => {
    const j = JSON.parse(readFileSync(`${VECTORS}bitcoinjs-lib/psbt.json`, 'utf8')).bip174 as {
      invalid: { psbt: string }[];
      valid: { psbt: string; description: string }[];
    };
    for (const c of j.invalid) rejectCode(c.psbt);
    for (const c of j.valid) {
      if (c.description === 'PSBT with unknown types in the inputs.') {
        // This fixture predates BIP 370: its "unknown" input key type 0x0f is now
        // PSBT_IN_OUTPUT_INDEX, which carries no key data. Bitcoin Core refuses it too
        // ("Output index key is more than one byte type"); so do we.
        expect(rejectCode(c.psbt)).toBe('PSBT_FIELD_INVALID');
        continue;
      }
      decodePsbt(psbtFromBase64(c.psbt));
    }
    expect(j.invalid.length + j.valid.length).toBeGreaterThan(20);
  });
});

describe('strict framing beyond the vectors', () => {
  const valid = hex.decode(sections(174, /following are valid PSBTs/)[0]!.hex);
  it('trailing bytes are refused', () => {
    expect(rejectCode(new Uint8Array([...valid, 0x00]))).toBe('PSBT_TRAILING_DATA');
  });
  it('a duplicated global key is refused', () => {
    // Re-serialize the global map with the unsigned tx twice.
    const maps = decodePsbt(valid).maps;
    const kv = maps.global[0]!;
    const enc = (kvs: typeof maps.global) =>
      kvs.flatMap((x) => [x.key.length, ...x.key, ...compact(x.value.length), ...x.value]);
    const body = [0x70, 0x73, 0x62, 0x74, 0xff, ...enc([kv, kv]), 0x00];
    for (const m of [...maps.inputs, ...maps.outputs]) body.push(...enc(m), 0x00);
    expect(rejectCode(new Uint8Array(body))).toBe('PSBT_DUPLICATE_KEY');
  });
});

function compact(n: number): number[] {
  return n < 0xfd ? [n] : [0xfd, n & 0xff, n >> 8];
}
