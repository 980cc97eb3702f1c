import { schnorr } from '@noble/curves/secp256k1.js';
import { hex } from '@scure/base';
import type { HDKey } from '@scure/bip32';
import { tagSchnorr, taprootTweakPrivKey } from '@scure/btc-signer/utils.js';
import { Transaction as BjsTransaction } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import { combineFinalizeExtract } from '../../src/bitcoin/finalize.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { withChecksum } from '../../src/core/chains/bitcoin/descriptor/checksum.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { parseBitcoinWallet } from '../../src/core/chains/bitcoin/wallet.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { fp, fund, intent, roots } from './fixtures.ts';

/** TEST DOUBLE: a memory signer extended with BIP 340 signing under a BIP 341 tweak. */
function schnorrSigner(root: HDKey): Secp256k1Signer {
  const base = memorySigner('tr', root);
  return {
    ...base,
    async schnorrSign(message, path, tweak) {
      const k = root.derive(path ?? 'm');
      // The backend contract: the tweak is hash_TapTweak(x-only internal key) for a key-path spend.
      expect(hex.encode(tweak!)).toBe(hex.encode(tagSchnorr('TapTweak', k.publicKey!.subarray(1))));
      return schnorr.sign(message, taprootTweakPrivKey(k.privateKey!), new Uint8Array(32));
    },
  };
}

describe('tr(KEY) key-path hot wallet', () => {
  const r = roots[1]!;
  const w = parseBitcoinWallet({
    network: 'regtest',
    descriptor: withChecksum(`tr([${fp(r)}/86h/1h/0h]${r.derive("m/86'/1'/0'").publicExtendedKey}/<0;1>/*)`),
    feeRateCeilingSatVb: 50,
  });
  const utxos = [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 5)];

  it('builds, verifies (witness_utxo suffices under BIP 341), signs, finalizes; bitcoinjs-lib checks', async () => {
    const built = buildPsbt(intent(), w, utxos, 5, 1);
    const v = verifyPsbt(intent(), built.psbt, w, () => undefined, { feeRateCeilingSatVb: 20 });
    expect(v.ok).toBe(true);
    const signed = await signPsbtInputs(built.psbt, w, schnorrSigner(r));
    expect(signed.signatures).toHaveLength(built.selected.length);
    const final = combineFinalizeExtract([signed.psbt]);
    expect(final.signaturesChecked).toBe(built.selected.length);
    const tx = BjsTransaction.fromBuffer(final.raw);
    expect(tx.ins.every((i) => i.witness.length === 1 && i.witness[0]!.length === 64)).toBe(true);
  });

  it('a backend without Schnorr is refused', async () => {
    const built = buildPsbt(intent(), w, utxos, 5, 1);
    await expect(signPsbtInputs(built.psbt, w, memorySigner('x', r))).rejects.toMatchObject({
      code: 'SIGNER_UNSUPPORTED',
    });
  });
});
