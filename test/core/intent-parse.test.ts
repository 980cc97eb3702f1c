import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateAddress } from '../../src/core/chains/address.ts';
import { parseChainId } from '../../src/core/chains/caip.ts';
import { parseStrictJson } from '../../src/core/encoding/strict-json.ts';
import { parseIntent } from '../../src/core/intent/index.ts';
import { BITCOIN_CHAINS, BTC, ERC20, EVM_NATIVE } from './intent-fixtures.ts';

const vectors = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../../shared/vectors/bitcoin-core/${name}`, import.meta.url), 'utf8'),
  ) as Array<[string, string, { chain?: string; isPrivkey?: boolean }]>;

/** Expects parseIntent to refuse `input` with `code`, naming `field`. */
function refuses(input: unknown, code: string, field: string) {
  expect(() => parseIntent(input)).toThrow(expect.objectContaining({ code, field }));
}

describe('parseIntent accepts', () => {
  it('native EVM, ERC-20 and Bitcoin intents unchanged', () => {
    for (const i of [EVM_NATIVE, ERC20, BTC]) expect(parseIntent(i)).toEqual(i);
  });
});

describe('parseIntent refuses', () => {
  it('unknown fields, including __proto__', () => {
    refuses({ ...EVM_NATIVE, memo: 'x' }, 'UNKNOWN_FIELD', 'memo');
    const proto = parseStrictJson(`{"__proto__":{"amount":"1"},${JSON.stringify(EVM_NATIVE).slice(1)}`);
    refuses(proto, 'UNKNOWN_FIELD', '__proto__');
  });

  it('duplicate keys before they reach the schema', () => {
    const text = JSON.stringify(EVM_NATIVE).replace('"amount":', '"amount":"1","amount":');
    expect(() => parseStrictJson(text, 'intent')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_KEY', field: '/amount' }),
    );
  });

  it('a missing or mistyped field, naming it', () => {
    const { reference: _, ...noRef } = EVM_NATIVE;
    refuses(noRef, 'INVALID_INTENT', 'reference');
    refuses({ ...EVM_NATIVE, version: 2 }, 'INVALID_INTENT', 'version');
    refuses({ ...EVM_NATIVE, amount: 1000 }, 'INVALID_INTENT', 'amount');
  });

  it('amounts with leading zeros, sign, exponent, fraction, zero, spaces or above 2^256-1', () => {
    for (const amount of [
      '0100',
      '+1',
      '-1',
      '1e3',
      '1E3',
      '1.0',
      '1.',
      '.5',
      '0',
      '',
      ' 1',
      '1 ',
      '0x10',
      '１',
    ]) {
      refuses({ ...EVM_NATIVE, amount }, 'INVALID_INTENT', 'amount');
    }
    refuses({ ...EVM_NATIVE, amount: (1n << 256n).toString() }, 'INVALID_INTENT', 'amount');
    expect(parseIntent({ ...EVM_NATIVE, amount: ((1n << 256n) - 1n).toString() }).amount).toHaveLength(78);
    refuses({ ...ERC20, maxFee: '00' }, 'INVALID_INTENT', 'maxFee');
    refuses({ ...ERC20, maxFee: '-1' }, 'INVALID_INTENT', 'maxFee');
  });

  it('timestamps that are not RFC 3339 UTC or not real calendar instants', () => {
    for (const createdAt of [
      '2026-01-31T12:00:00+01:00',
      '2026-01-31T12:00:00+00:00',
      '2026-01-31T12:00:00',
      '2026-01-31 12:00:00Z',
      '2026-01-31t12:00:00z',
      '2026-02-30T12:00:00Z', // Feb 30
      '2026-02-29T12:00:00Z', // not a leap year
      '2026-13-01T12:00:00Z',
      '2026-01-31T24:00:00Z',
      '2026-01-31T23:60:00Z',
      '2026-01-31T12:00:00.1234567890Z',
      '1769860800',
    ]) {
      refuses({ ...EVM_NATIVE, createdAt }, 'INVALID_INTENT', 'createdAt');
    }
    expect(
      parseIntent({ ...EVM_NATIVE, createdAt: '2028-02-29T12:00:00Z', expiresAt: '2028-03-01T00:00:00Z' }),
    ).toBeTruthy();
    refuses({ ...EVM_NATIVE, expiresAt: EVM_NATIVE.createdAt }, 'INVALID_INTENT', 'expiresAt');
  });

  it('ids that are not lower-case RFC 9562 UUIDs', () => {
    for (const id of [
      '3B241101-E2BB-4255-8CAF-4136C566A962',
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '3b241101e2bb42558caf4136c566a962',
      '{3b241101-e2bb-4255-8caf-4136c566a962}',
    ]) {
      refuses({ ...EVM_NATIVE, id }, 'INVALID_INTENT', 'id');
    }
  });

  it('references with control or bidirectional-override characters (display spoofing)', () => {
    for (const reference of [
      'a\u0000b',
      'line\nbreak',
      'pay \u202etxe.exe',
      '\u2066x\u2069',
      'x'.repeat(257),
    ]) {
      refuses({ ...EVM_NATIVE, reference }, 'INVALID_INTENT', 'reference');
    }
    expect(parseIntent({ ...EVM_NATIVE, reference: 'Überweisung №7 — ok' }).reference).toBe(
      'Überweisung №7 — ok',
    );
  });

  it('chain/asset mismatches and unsupported chains', () => {
    refuses({ ...EVM_NATIVE, asset: 'eip155:10/slip44:60' }, 'ASSET_CHAIN_MISMATCH', 'asset');
    refuses({ ...EVM_NATIVE, chain: 'eip155:01', asset: 'eip155:01/slip44:60' }, 'INVALID_CHAIN', 'chain');
    refuses({ ...BTC, asset: `${BTC.chain}/slip44:1` }, 'INVALID_ASSET', 'asset');
    refuses({ ...BTC, chain: 'bip122:000000000000000000000000000000ff' }, 'UNKNOWN_CHAIN', 'chain');
  });
});

describe('EVM addresses (EIP-55)', () => {
  // The four test cases of EIP-55 ("Test Cases", all mixed case).
  const eip55 = [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ];
  const swapCase = (c: string) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase());

  it('accepts the EIP-55 test cases', () => {
    for (const destination of eip55)
      expect(parseIntent({ ...EVM_NATIVE, destination }).destination).toBe(destination);
  });

  it('refuses a wrong-case checksum, all lower case and all upper case', () => {
    for (const a of eip55) {
      const i = a.search(/[a-fA-F]/);
      const wrong = a.slice(0, i) + swapCase(a[i]!) + a.slice(i + 1);
      refuses({ ...EVM_NATIVE, destination: wrong }, 'ADDRESS_CHECKSUM', 'destination');
      refuses({ ...EVM_NATIVE, destination: a.toLowerCase() }, 'ADDRESS_CHECKSUM', 'destination');
      refuses(
        { ...EVM_NATIVE, destination: `0x${a.slice(2).toUpperCase()}` },
        'ADDRESS_CHECKSUM',
        'destination',
      );
    }
    refuses(
      { ...ERC20, asset: ERC20.asset.toLowerCase().replace('erc20:0x', 'erc20:0x') },
      'ADDRESS_CHECKSUM',
      'asset',
    );
    refuses({ ...EVM_NATIVE, destination: `${eip55[0]}00` }, 'INVALID_ADDRESS', 'destination');
  });
});

describe('Bitcoin addresses (Bitcoin Core key_io vectors)', () => {
  const valid = vectors('key_io_valid.json').filter(([, , m]) => !m.isPrivkey);
  /** Witness versions 2–16 have no spending rules: refused as destinations (funds would be unsafe). */
  const futureWitness = (spk: string) => /^(5[2-9a-f]|60)/.test(spk);

  it('accepts every valid address on its own network, refuses future witness versions', () => {
    let accepted = 0;
    for (const [address, spk, meta] of valid) {
      const chain = parseChainId(BITCOIN_CHAINS[meta.chain!]!);
      if (futureWitness(spk)) {
        expect(() => validateAddress(chain, address), address).toThrow(
          expect.objectContaining({ code: 'INVALID_ADDRESS' }),
        );
      } else {
        expect(validateAddress(chain, address)).toBe(address);
        accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(40);
  });

  it('refuses a mainnet address on a test network and a test-network address on mainnet', () => {
    for (const [address, spk, meta] of valid) {
      if (futureWitness(spk)) continue;
      const other = meta.chain === 'main' ? ['test', 'testnet4', 'signet', 'regtest'] : ['main'];
      for (const net of other) {
        expect(
          () => validateAddress(parseChainId(BITCOIN_CHAINS[net]!), address),
          `${address} on ${net}`,
        ).toThrow(expect.objectContaining({ code: 'INVALID_ADDRESS' }));
      }
      // bech32 hrp: regtest (bcrt) and the public test networks (tb) are told apart.
      if (meta.chain === 'regtest' && address.startsWith('bcrt1')) {
        expect(() => validateAddress(parseChainId(BITCOIN_CHAINS.test!), address)).toThrow();
      }
    }
  });

  it('refuses every invalid vector on every network', () => {
    for (const [address] of vectors('key_io_invalid.json')) {
      for (const caip2 of Object.values(BITCOIN_CHAINS)) {
        expect(() => validateAddress(parseChainId(caip2), address), `${address} on ${caip2}`).toThrow();
      }
    }
  });

  it('refuses upper-case bech32 (one destination, one spelling) and surrounding spaces', () => {
    refuses({ ...BTC, destination: BTC.destination.toUpperCase() }, 'NON_CANONICAL_ADDRESS', 'destination');
    refuses({ ...BTC, destination: `${BTC.destination} ` }, 'INVALID_ADDRESS', 'destination');
    refuses({ ...BTC, destination: EVM_NATIVE.destination }, 'INVALID_ADDRESS', 'destination');
  });
});
