import { readFileSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { networks, payments } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { addressToScript, scriptToAddress } from '../../src/core/chains/bitcoin/address.ts';
import { descriptorChecksum, withChecksum } from '../../src/core/chains/bitcoin/descriptor/checksum.ts';
import { deriveOutput, locateDerivation } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import { parseDescriptor } from '../../src/core/chains/bitcoin/descriptor/parse.ts';
import { BitcoinInputError } from '../../src/core/chains/bitcoin/errors.ts';
import { parseBitcoinWallet } from '../../src/core/chains/bitcoin/wallet.ts';
import type { BitcoinNetworkName } from '../../src/core/chains/caip.ts';
import { fp, multisigDescriptor, roots, VECTORS, wallet } from './fixtures.ts';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  throw new Error('did not throw');
}

describe('BIP 380 checksum', () => {
  it('matches the BIP 380 example and refuses a wrong or missing one', () => {
    expect(descriptorChecksum('raw(deadbeef)')).toBe('89f8spxm');
    const d = multisigDescriptor('wsh');
    expect(parseDescriptor(d, 'regtest').kind).toBe('wsh-sortedmulti');
    const body = d.slice(0, d.indexOf('#'));
    expect(code(() => parseDescriptor(body, 'regtest'))).toBe('DESCRIPTOR_CHECKSUM_MISSING');
    const bad = `${body}#${descriptorChecksum(`${body} `)}`;
    expect(code(() => parseDescriptor(bad, 'regtest'))).toBe('DESCRIPTOR_CHECKSUM_MISMATCH');
    // One character changed inside an xpub: the checksum catches the typo.
    const i = body.indexOf('tpub') + 20;
    const typo = body.slice(0, i) + (body[i] === 'a' ? 'b' : 'a') + body.slice(i + 1);
    expect(code(() => parseDescriptor(`${typo}#${d.slice(-8)}`, 'regtest'))).toBe(
      'DESCRIPTOR_CHECKSUM_MISMATCH',
    );
  });
});

describe('descriptor parsing', () => {
  const r = roots[0]!;
  const acct = r.derive("m/84'/1'/0'");
  const key = `[${fp(r)}/84h/1h/0h]${acct.publicExtendedKey}`;
  it('refuses what a watch-only custody wallet must not hold', () => {
    const cases: [string, string][] = [
      [`wpkh([${fp(r)}/84h/1h/0h]${acct.privateExtendedKey}/0/*)`, 'DESCRIPTOR_PRIVATE_KEY'],
      [`wpkh(${key}/0)`, 'DESCRIPTOR_NOT_RANGED'],
      [`wpkh(${key}/0/*h)`, 'DESCRIPTOR_HARDENED_AFTER_XPUB'],
      [`wpkh(${key}/0h/*)`, 'DESCRIPTOR_HARDENED_AFTER_XPUB'],
      [`pkh(${key}/0/*)`, 'DESCRIPTOR_UNSUPPORTED'],
      [`wsh(multi(2,${key}/0/*,${key}/0/*))`, 'DESCRIPTOR_UNSUPPORTED'],
      [`wsh(sortedmulti(2,${key}/0/*,${key}/0/*))`, 'DESCRIPTOR_DUPLICATE_KEY'],
      [`wsh(sortedmulti(3,${key}/0/*))`, 'DESCRIPTOR_INVALID'],
      [`wpkh([${fp(r)}/84h/1h]${acct.publicExtendedKey}/0/*)`, 'DESCRIPTOR_ORIGIN_MISMATCH'],
      [`wpkh(${key}/<0;1>/<2;3>/*)`, 'DESCRIPTOR_INVALID'],
    ];
    for (const [body, want] of cases)
      expect(code(() => parseDescriptor(withChecksum(body), 'regtest'))).toBe(want);
  });
  it('refuses an xpub of another network', () => {
    const main = HDKey.fromMasterSeed(new Uint8Array(32).fill(1)).derive("m/84'/0'/0'");
    const d = withChecksum(`wpkh([${fp(r)}/84h/0h/0h]${main.publicExtendedKey}/0/*)`);
    expect(parseDescriptor(d, 'mainnet').kind).toBe('wpkh');
    expect(code(() => parseDescriptor(d, 'testnet'))).toBe('DESCRIPTOR_KEY_INVALID');
  });
  it('a multipath descriptor equals its two-descriptor form', () => {
    const multi = parseBitcoinWallet({
      network: 'regtest',
      descriptor: withChecksum(`wpkh(${key}/<0;1>/*)`),
      feeRateCeilingSatVb: 10,
    });
    const two = parseBitcoinWallet({
      network: 'regtest',
      receiveDescriptor: withChecksum(`wpkh(${key}/0/*)`),
      changeDescriptor: withChecksum(`wpkh(${key}/1/*)`),
      feeRateCeilingSatVb: 10,
    });
    for (const b of ['receive', 'change'] as const)
      for (const i of [0, 1, 7])
        expect(deriveOutput(multi, b, i).address).toBe(deriveOutput(two, b, i).address);
    expect(
      code(() =>
        parseBitcoinWallet({
          network: 'regtest',
          descriptor: withChecksum(`wpkh(${key}/0/*)`),
          feeRateCeilingSatVb: 1,
        }),
      ),
    ).toBe('DESCRIPTOR_NOT_MULTIPATH');
    expect(
      code(() =>
        parseBitcoinWallet({
          network: 'regtest',
          descriptor: withChecksum(`wpkh(${key}/<0;1>/*)`),
          feeRateCeilingSatVb: 1,
          extra: 1,
        }),
      ),
    ).toBe('UNKNOWN_FIELD');
  });
});

describe('address derivation cross-checked with bitcoinjs-lib', () => {
  const regtest = networks.regtest;
  it('sh(wsh(sortedmulti)), wsh(sortedmulti) and wpkh at receive and change indexes', () => {
    for (const kind of ['sh-wsh', 'wsh', 'wpkh'] as const) {
      const w = wallet(kind);
      for (const branch of ['receive', 'change'] as const)
        for (const i of [0, 1, 19, 1000]) {
          const d = deriveOutput(w, branch, i);
          const bIdx = branch === 'receive' ? 0 : 1;
          const pubs = roots.map((r, n) => {
            const st = kind === 'sh-wsh' ? 1 : 2;
            const path = kind === 'wpkh' ? `m/84'/1'/0'/${bIdx}/${i}` : `m/48'/1'/0'/${st}'/${bIdx}/${i}`;
            return n === 0 || kind !== 'wpkh' ? r.derive(path).publicKey! : undefined;
          });
          let expected: string | undefined;
          if (kind === 'wpkh') expected = payments.p2wpkh({ pubkey: pubs[0]!, network: regtest }).address;
          else {
            const sorted = (pubs as Uint8Array[]).slice().sort((a, b) => Buffer.compare(a, b));
            const ms = payments.p2ms({ m: 2, pubkeys: sorted, network: regtest });
            const wsh = payments.p2wsh({ redeem: ms, network: regtest });
            expected =
              kind === 'wsh' ? wsh.address : payments.p2sh({ redeem: wsh, network: regtest }).address;
          }
          expect(d.address).toBe(expected);
          // The path a PSBT would carry maps back to the same branch and index.
          const k = d.keys[0]!;
          expect(locateDerivation(w, k.fingerprint, k.path)).toEqual({ branch, index: i });
        }
    }
  });
  it('tr(KEY) key-path (BIP 86): internal key at the path, bech32m output', () => {
    const r = roots[1]!;
    const acct = r.derive("m/86'/1'/0'");
    const w = parseBitcoinWallet({
      network: 'regtest',
      descriptor: withChecksum(`tr([${fp(r)}/86h/1h/0h]${acct.publicExtendedKey}/<0;1>/*)`),
      feeRateCeilingSatVb: 10,
    });
    const d = deriveOutput(w, 'receive', 3);
    const internal = r.derive("m/86'/1'/0'/0/3").publicKey!.subarray(1);
    expect(hex.encode(d.tapInternalKey!)).toBe(hex.encode(internal));
    expect(d.address.startsWith('bcrt1p')).toBe(true);
  });
});

function onCurve(x: Uint8Array): boolean {
  try {
    secp256k1.Point.fromHex(`02${hex.encode(x)}`);
    return true;
  } catch {
    return false;
  }
}

describe('Bitcoin Core key_io vectors', () => {
  const NET: Record<string, BitcoinNetworkName> = {
    main: 'mainnet',
    test: 'testnet',
    signet: 'signet',
    regtest: 'regtest',
  };
  const valid = JSON.parse(readFileSync(`${VECTORS}bitcoin-core/key_io_valid.json`, 'utf8')) as [
    string,
    string,
    { chain: string; isPrivkey: boolean; tryCaseFlip?: boolean },
  ][];
  const invalid = JSON.parse(readFileSync(`${VECTORS}bitcoin-core/key_io_invalid.json`, 'utf8')) as [
    string,
  ][];
  it('every valid address decodes to its script and encodes back', () => {
    let n = 0;
    for (const [addr, script, meta] of valid) {
      if (meta.isPrivkey) continue;
      const net = NET[meta.chain]!;
      const sc = hex.decode(script);
      const futureSegwit = sc[0]! >= 0x51 && sc[0]! <= 0x60 && !(sc[0] === 0x51 && sc.length === 34);
      const offCurveTaproot = sc[0] === 0x51 && sc.length === 34 && !onCurve(sc.subarray(2));
      if (futureSegwit || offCurveTaproot) {
        // Valid per BIP 350, but witness versions ≥ 2 (and v1 programs that are not 32 bytes) are
        // anyone-can-spend today, and a taproot key off the curve can never be spent: Custos
        // refuses to pay them rather than burn funds.
        expect(code(() => addressToScript(addr, net))).toBe('INVALID_ADDRESS');
        continue;
      }
      expect(hex.encode(addressToScript(addr, net))).toBe(script);
      const back = scriptToAddress(hex.decode(script), net);
      // Bech32 re-encodes lowercase; Core's vectors include uppercase forms.
      expect(back?.toLowerCase()).toBe(addr.toLowerCase());
      n++;
    }
    expect(n).toBeGreaterThan(30);
  });
  it('every invalid string is refused on every network', () => {
    for (const [s] of invalid)
      for (const net of Object.values(NET))
        expect(code(() => addressToScript(s, net))).toBe('INVALID_ADDRESS');
  });
  it('an address of another network is refused', () => {
    const [addr] = valid.find(([, , m]) => m.chain === 'main' && !m.isPrivkey)!;
    expect(code(() => addressToScript(addr, 'regtest'))).toBe('INVALID_ADDRESS');
  });
});

describe('BIP 32 vectors', () => {
  const text = readFileSync(`${VECTORS}bips/bip32_test_vectors.mediawiki.txt`, 'utf8');
  it('derived xpubs from the seeds match, and each vector xpub is accepted in a descriptor', () => {
    const blocks = text.split(/Seed \(hex\): /).slice(1);
    let n = 0;
    for (const b of blocks) {
      const seed = hex.decode(b.slice(0, b.indexOf('\n')).trim());
      const master = HDKey.fromMasterSeed(seed);
      for (const m of b.matchAll(/\* Chain (m[^\n]*)\n\*\* ext pub: (\w+)/g)) {
        const path = m[1]!.replace(/<sub>H<\/sub>/g, "'");
        const xpub = m[2]!;
        expect(master.derive(path).publicExtendedKey).toBe(xpub);
        const origin = path === 'm' ? '' : path.slice(2).replace(/'/g, 'h');
        const d = withChecksum(`wpkh([${fp(master)}${origin ? `/${origin}` : ''}]${xpub}/0/*)`);
        expect(parseDescriptor(d, 'mainnet').keys[0]!.xpub).toBe(xpub);
        n++;
      }
    }
    expect(n).toBeGreaterThan(15);
  });
  it('every invalid extended key is refused in a descriptor', () => {
    const bad = [...text.slice(text.indexOf('invalid extended keys')).matchAll(/^\* (\w+) \(/gm)].map(
      (m) => m[1]!,
    );
    expect(bad.length).toBeGreaterThan(10);
    for (const k of bad) {
      const c = code(() => parseDescriptor(withChecksum(`wpkh(${k}/0/*)`), 'mainnet'));
      expect(['DESCRIPTOR_KEY_INVALID', 'DESCRIPTOR_PRIVATE_KEY']).toContain(c);
    }
  });
  it('the errors are typed', () => {
    expect(() => parseDescriptor('wpkh(x)#aaaaaaaa', 'mainnet')).toThrow(BitcoinInputError);
  });
});
