import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { tagSchnorr, taprootTweakPubkey } from '@scure/btc-signer/utils.js';
import { afterAll, describe, expect, it } from 'vitest';
import { combineFinalizeExtract } from '../../src/bitcoin/finalize.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { withChecksum } from '../../src/core/chains/bitcoin/descriptor/checksum.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { parseBitcoinWallet } from '../../src/core/chains/bitcoin/wallet.ts';
import { generateFileKey, openFileSigner } from '../../src/keys/file.ts';
import { fp, fund, intent, roots } from '../bitcoin/fixtures.ts';

/** Taproot key-path (BIP 86) signing with the encrypted-keystore backend. */
const dir = mkdtempSync(join(tmpdir(), 'custos-schnorr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('file backend: BIP 340 under the BIP 86 tweak', () => {
  it('signs a tr(KEY) PSBT that finalizes with every signature checked; refuses a script-tree tweak', async () => {
    const path = join(dir, 'tr.json');
    // roots[1] of the Bitcoin fixtures is the master key of seed 0x02…02.
    await generateFileKey({
      path,
      passphrase: 'taproot-pass',
      label: 'tr',
      keyType: 'bip32-seed',
      secret: new Uint8Array(32).fill(2),
      scrypt: { N: 1 << 10, r: 8, p: 1 },
    });
    const signer = await openFileSigner({ path, passphrase: 'taproot-pass' });
    const r = roots[1]!;
    const w = parseBitcoinWallet({
      network: 'regtest',
      descriptor: withChecksum(
        `tr([${fp(r)}/86h/1h/0h]${r.derive("m/86'/1'/0'").publicExtendedKey}/<0;1>/*)`,
      ),
      feeRateCeilingSatVb: 50,
    });
    const built = buildPsbt(intent(), w, [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 5)], 5, 1);
    expect(verifyPsbt(intent(), built.psbt, w, () => undefined, { feeRateCeilingSatVb: 20 }).ok).toBe(true);
    const signed = await signPsbtInputs(built.psbt, w, signer);
    expect(signed.signatures).toHaveLength(built.selected.length);
    expect(combineFinalizeExtract([signed.psbt]).signaturesChecked).toBe(built.selected.length);

    // Direct check against the tweaked output key, and the refusal of any other tweak.
    const p = "m/86'/1'/0'/0/0";
    const internal = (await signer.publicKey(p)).subarray(1);
    const msg = sha256(new TextEncoder().encode('m'));
    const sig = await signer.schnorrSign!(msg, p, tagSchnorr('TapTweak', internal));
    expect(schnorr.verify(sig, msg, taprootTweakPubkey(internal, new Uint8Array(0))[0])).toBe(true);
    const scriptTree = tagSchnorr('TapTweak', internal, new Uint8Array(32).fill(7));
    await expect(signer.schnorrSign!(msg, p, scriptTree)).rejects.toThrow(/KEY_TWEAK_UNSUPPORTED/);
    await expect(signer.schnorrSign!(msg, p)).rejects.toThrow(/KEY_TWEAK_UNSUPPORTED/);
    await signer.close();
  });
});
