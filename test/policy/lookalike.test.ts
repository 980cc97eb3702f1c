import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { findLookalike } from '../../src/core/policy/lookalike.ts';
import { evmAddress } from './fixtures.ts';

const KNOWN = '0x51E9d833Ecae4E8D9D8Be17300AEE6D3398C135D';

describe('findLookalike', () => {
  it('flags an EVM address with the same first 4 and last 4 hex digits (address poisoning)', () => {
    const fake = getAddress('0x51e9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa135d');
    const f = findLookalike(fake, 'eip155:1', [{ address: KNOWN, label: 'Kraken', source: 'addressBook' }]);
    expect(f).toMatchObject({
      code: 'LOOKALIKE_DESTINATION',
      details: { mimics: KNOWN, label: 'Kraken', match: 'affixes' },
    });
  });

  it('flags a small edit on the checksummed form', () => {
    const fake = getAddress(`${KNOWN.slice(0, 3)}${KNOWN[3] === '0' ? '1' : '0'}${KNOWN.slice(4)}`);
    expect(findLookalike(fake, 'eip155:1', [KNOWN])).toMatchObject({
      details: { match: 'edit-distance', distance: 1 },
    });
  });

  it('does not flag the address itself in another letter case', () => {
    expect(findLookalike(KNOWN.toLowerCase(), 'eip155:1', [KNOWN])).toBeUndefined();
  });

  it('does not flag unrelated addresses', () => {
    for (let i = 10; i < 200; i++)
      expect(findLookalike(evmAddress(i), 'eip155:1', [KNOWN, evmAddress(5)])).toBeUndefined();
  });

  it('DMM-style: same first 5 and last 2 characters is not enough for affixes, but is caught when the ends match', () => {
    // Bitcoin P2PKH: affixes are compared after the leading "1".
    const known = '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa';
    const mimic = '1A1zPxxxxxxxxxxxxxxxxxxxxxxx7DivfNa';
    expect(findLookalike(mimic, 'bip122:000000000019d6689c085ae165831e93', [known])).toMatchObject({
      details: { match: 'affixes', mimics: known },
    });
    // Bitcoin is case-sensitive: a re-cased base58 address is a different address and a look-alike.
    const recased = '1a1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa';
    expect(findLookalike(recased, 'bip122:000000000019d6689c085ae165831e93', [known])?.code).toBe(
      'LOOKALIKE_DESTINATION',
    );
  });

  it('bech32: compared after bc1q', () => {
    const known = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
    const mimic = 'bc1qar0sxxxxxxxxxxxxxxxxxxxxxxxxxxxxxf5mdq';
    expect(findLookalike(mimic, 'bip122:000000000019d6689c085ae165831e93', [known])?.details?.match).toBe(
      'affixes',
    );
    expect(
      findLookalike('bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh', 'bip122:000000000019d6689c085ae165831e93', [
        known,
      ]),
    ).toBeUndefined();
  });
});
