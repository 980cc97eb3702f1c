import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import { Transaction as BjsTransaction, Psbt } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { combineFinalizeExtract } from '../../src/bitcoin/finalize.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { ATTACKER, DESTINATION, fund, intent, roots, wallet } from './fixtures.ts';

/**
 * End to end on regtest keys: the coordinator builds, two independent co-signers (memorySigner
 * test doubles holding BIP 32 roots) each verify the PSBT against the intent and sign, the
 * coordinator combines, finalizes, and the final transaction is checked by bitcoinjs-lib.
 */
const noView = () => undefined;

describe.each(['sh-wsh', 'wsh'] as const)('%s 2-of-3 through two co-signers', (kind) => {
  const w = wallet(kind);
  const utxos = [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 1), fund(w, 5_000_000n, 2, 'change')];
  const approved = intent();

  it('builds, verifies, signs twice, finalizes; bitcoinjs-lib validates every signature', async () => {
    const built = buildPsbt(approved, w, utxos, 5, 7);
    expect(built.changeIndex).toBe(7);
    const signers = [memorySigner('cosigner-a', roots[0]!), memorySigner('cosigner-c', roots[2]!)];
    const parts: Uint8Array[] = [];
    for (const s of signers) {
      const v = verifyPsbt(approved, built.psbt, w, noView, { feeRateCeilingSatVb: 20 });
      expect(v.ok).toBe(true);
      if (!v.ok) return;
      expect(v.value.fee).toBe(built.fee);
      expect(v.value.summary.destination).toBe(DESTINATION);
      expect(v.value.summary.change).toEqual([expect.objectContaining({ index: 7 })]);
      const signed = await signPsbtInputs(built.psbt, w, s);
      expect(signed.signatures).toHaveLength(v.value.inputsToSign.length);
      for (const sig of signed.signatures) {
        expect(sig.signature[sig.signature.length - 1]).toBe(0x01); // SIGHASH_ALL
        const parsed = secp256k1.Signature.fromBytes(sig.signature.subarray(0, -1), 'der');
        expect(parsed.hasHighS()).toBe(false);
      }
      parts.push(signed.psbt);
    }
    // Independent check of the partial signatures by bitcoinjs-lib before combining.
    for (const p of parts) {
      const bjs = Psbt.fromBuffer(p);
      expect(
        bjs.validateSignaturesOfAllInputs((pub, msg, sig) =>
          secp256k1.verify(sig, msg, pub, { prehash: false, format: 'compact' }),
        ),
      ).toBe(true);
    }
    const final = combineFinalizeExtract(parts);
    expect(final.signaturesChecked).toBe(2 * built.selected.length);
    const tx = BjsTransaction.fromBuffer(final.raw);
    expect(tx.getId()).toBe(final.txid);
    expect(tx.outs.some((o) => o.value === 150_000_000n)).toBe(true);
    // The fee-rate estimate is an upper bound on the real size within a few vbytes.
    expect(tx.virtualSize()).toBeLessThanOrEqual(Math.ceil(Number(built.fee) / built.feeRate) + 1);
    expect(tx.virtualSize()).toBeGreaterThan(Math.ceil(Number(built.fee) / built.feeRate) - 6);
  });

  it('one co-signer alone cannot finalize; a forged signature fails the bitcoinjs-lib check', async () => {
    const built = buildPsbt(approved, w, utxos, 5, 7);
    const one = await signPsbtInputs(built.psbt, w, memorySigner('a', roots[0]!));
    expect(() => combineFinalizeExtract([one.psbt])).toThrow(/PSBT_NOT_FINALIZABLE|FINAL_CHECK_FAILED/);
    // A "co-signer" that signs a different digest: valid DER, wrong message.
    const evil = memorySigner('evil', roots[1]!);
    const liar = {
      ...evil,
      signDigest: (_d: Uint8Array, path?: string) => evil.signDigest(new Uint8Array(32).fill(7), path),
    };
    const bad = await signPsbtInputs(built.psbt, w, liar);
    expect(() => combineFinalizeExtract([one.psbt, bad.psbt])).toThrow(/FINAL_CHECK_FAILED|NOT_FINALIZABLE/);
  });

  it('a signer holding no wallet key is refused', async () => {
    const built = buildPsbt(approved, w, utxos, 5, 7);
    const stranger = memorySigner(
      'x',
      (await import('@scure/bip32')).HDKey.fromMasterSeed(new Uint8Array(32).fill(9)),
    );
    await expect(signPsbtInputs(built.psbt, w, stranger)).rejects.toMatchObject({
      code: 'SIGNER_NOT_IN_WALLET',
    });
  });

  it('builder refuses a fee above the intent maxFee and insufficient funds', () => {
    expect(() => buildPsbt(intent({ maxFee: '100' }), w, utxos, 5, 0)).toThrow(/FEE_ABOVE_MAX/);
    expect(() => buildPsbt(intent({ amount: '900000000' }), w, utxos, 5, 0)).toThrow(/INSUFFICIENT_FUNDS/);
    expect(() => buildPsbt(intent({ destination: ATTACKER }), w, utxos, 500, 0)).toThrow(/FEE_ABOVE_MAX/);
  });

  it('every input carries non_witness_utxo and witness_utxo, change carries full BIP 32 derivation', () => {
    const built = buildPsbt(approved, w, utxos, 5, 7);
    const bjs = Psbt.fromBuffer(built.psbt);
    for (const inp of bjs.data.inputs) {
      expect(inp.nonWitnessUtxo).toBeDefined();
      expect(inp.witnessUtxo).toBeDefined();
      expect(inp.bip32Derivation).toHaveLength(3);
      expect(inp.witnessScript).toBeDefined();
    }
    const change = bjs.data.outputs.find((o) => o.bip32Derivation);
    expect(change?.bip32Derivation?.map((d) => d.path.split('/').slice(-2).join('/'))).toEqual([
      '1/7',
      '1/7',
      '1/7',
    ]);
    expect(hex.encode(change!.bip32Derivation![0]!.masterFingerprint)).toMatch(/^[0-9a-f]{8}$/);
  });
});
