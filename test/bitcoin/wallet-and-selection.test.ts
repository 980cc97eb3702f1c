import { readFileSync } from 'node:fs';
import { hex } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { describe, expect, it } from 'vitest';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { selectCoins } from '../../src/core/chains/bitcoin/coin-select.ts';
import { PSBT_OPTS } from '../../src/core/chains/bitcoin/psbt/decode.ts';
import { readPsbt } from '../../src/core/chains/bitcoin/psbt/fields.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { parseBitcoinWallet, parseBitcoinWalletRecord } from '../../src/core/chains/bitcoin/wallet.ts';
import { watchEntries } from '../../src/core/chains/bitcoin/watch-entries.ts';
import { findLookalike } from '../../src/core/policy/lookalike.ts';
import { DESTINATION, fund, intent, multisigDescriptor, REGTEST, VECTORS, wallet } from './fixtures.ts';

const params = {
  feeRate: 10,
  baseVbytes: 50,
  inputVbytes: 100,
  changeVbytes: 43,
  changeSpendVbytes: 100,
  dustLimit: 546n,
};
const c = (id: string, value: bigint) => ({ id, value });

describe('coin selection', () => {
  it('branch-and-bound finds a changeless exact set', () => {
    // target 100,000 + base fee 500; inputs cost 1,000 each. 60,000 + 42,500 - 2,000 = 100,500.
    const s = selectCoins([c('a', 60_000n), c('b', 42_500n), c('c', 500_000n), c('d', 7_000n)], {
      ...params,
      target: 100_000n,
    });
    expect(s.algorithm).toBe('bnb');
    expect(s.change).toBe(0n);
    expect(s.selected.map((x) => x.id).sort()).toEqual(['a', 'b']);
    expect(s.fee).toBe(2_500n);
  });
  it('falls back to largest-first with change', () => {
    const s = selectCoins([c('a', 1_000_000n), c('b', 300_000n)], { ...params, target: 100_000n });
    expect(s.algorithm).toBe('largest-first');
    expect(s.selected.map((x) => x.id)).toEqual(['a']);
    expect(s.change).toBe(1_000_000n - 100_000n - s.fee);
    expect(s.fee).toBe(BigInt(Math.ceil((50 + 100 + 43) * 10)));
  });
  it('never creates dust change: it goes to the fee', () => {
    // 101,500 + 1,000 input fee + change fee 430 → change would be ~100 sat < 546.
    const s = selectCoins([c('a', 102_100n)], { ...params, target: 100_000n, maxTries: 0 });
    expect(s.change).toBe(0n);
    expect(s.fee).toBe(2_100n);
  });
  it('inputs that cost more than they are worth are never selected; shortfall is typed', () => {
    expect(() => selectCoins([c('dust', 900n)], { ...params, target: 100n })).toThrow(/INSUFFICIENT_FUNDS/);
  });
});

describe('wallet records and config', () => {
  const descriptor = multisigDescriptor('sh-wsh');
  it('record chain must match the config network; threshold restated must match', () => {
    const record = {
      id: 'btc-cold-1',
      chain: REGTEST,
      type: 'bitcoin-descriptor',
      config: { network: 'regtest', descriptor, feeRateCeilingSatVb: 50, threshold: 2 },
    };
    expect(parseBitcoinWalletRecord(record).threshold).toBe(2);
    expect(() =>
      parseBitcoinWalletRecord({ ...record, chain: 'bip122:000000000019d6689c085ae165831e93' }),
    ).toThrow(/WALLET_CHAIN_MISMATCH/);
    expect(() => parseBitcoinWalletRecord({ ...record, config: { ...record.config, threshold: 3 } })).toThrow(
      /THRESHOLD_MISMATCH/,
    );
    expect(() => parseBitcoinWalletRecord({ ...record, type: 'safe' })).toThrow(/WRONG_WALLET_TYPE/);
    expect(() => parseBitcoinWallet({ network: 'regtest', descriptor })).toThrow(/feeRateCeilingSatVb/);
  });
  it('watch entries cover both branches with witness scripts', () => {
    const e = watchEntries('w', wallet('wsh'), 4);
    expect(e).toHaveLength(10);
    expect(e.every((x) => x.witnessScript && x.script.length === 34)).toBe(true);
  });
});

describe('PSBT v2 on the co-signer path', () => {
  const w = wallet('wsh');
  const built = buildPsbt(intent(), w, [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 1)], 5, 2);
  it('the same transaction as PSBTv2 verifies, with the same txid', () => {
    const v2 = Transaction.fromPSBT(built.psbt, PSBT_OPTS).toPSBT(2);
    expect(readPsbt(v2).version).toBe(2);
    const a = verifyPsbt(intent(), built.psbt, w, () => undefined, { feeRateCeilingSatVb: 20 });
    const b = verifyPsbt(intent(), v2, w, () => undefined, { feeRateCeilingSatVb: 20 });
    expect(a.ok && b.ok && a.value.txid === b.value.txid && a.value.fee === b.value.fee).toBe(true);
  });
  it('BIP 370 locktime determination vectors', () => {
    const sections = JSON.parse(readFileSync(`${VECTORS}bips/bip370_test_vectors.json`, 'utf8')).sections as {
      heading: string;
      items: { hex: string }[];
    }[];
    let n = 0;
    for (const s of sections) {
      const m = /computed to be (\d+)/.exec(s.heading);
      for (const it of s.items) {
        if (m) expect(readPsbt(hex.decode(it.hex)).locktime).toBe(Number(m[1]));
        else if (/cannot be computed/.test(s.heading))
          expect(() => readPsbt(hex.decode(it.hex))).toThrow(/PSBT_LOCKTIME_CONFLICT/);
        else continue;
        n++;
      }
    }
    expect(n).toBe(10);
  });
});

describe('look-alike check from the policy engine', () => {
  it('a destination resembling an address-book entry is refused by the co-signer', () => {
    const w = wallet('wsh');
    const built = buildPsbt(intent(), w, [fund(w, 200_000_000n, 0)], 5, 0);
    const book = [
      `${DESTINATION.slice(0, 20)}${DESTINATION[20] === 'q' ? 'p' : 'q'}${DESTINATION.slice(21)}`,
    ];
    const r = verifyPsbt(intent(), built.psbt, w, () => undefined, {
      feeRateCeilingSatVb: 20,
      lookalike: (a) => findLookalike(a, REGTEST, book),
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('LOOKALIKE_DESTINATION');
  });
});
