import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { HDKey } from '@scure/bip32';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { fund, intent, roots, wallet } from '../../test/bitcoin/fixtures.ts';
import { benchBlockScan } from '../bitcoin-block.ts';
import { type BenchSuite, measure, measureSync, type SuiteResult } from '../report.ts';

/**
 * Bitcoin bench:
 *  - one co-signer's verification + signing of a 2-of-3 sh(wsh(sortedmulti)) PSBT with 10 inputs
 *    (decode from bytes, re-derive every input and the change, fee checks, 10 ECDSA signatures
 *    through the memorySigner backend); target ≥ 500/s;
 *  - decode the 2,500-tx mainnet block 702861 and match it against 100,000 watched scripts
 *    (plus custody UTXOs), side by side with bitcoinjs-lib's Block.fromBuffer of the same block
 *    alone; targets ≤ 50 ms and ≥ 2× faster (bench/bitcoin-block.ts; also the watchtower's full
 *    per-block path with every txid and the merkle root).
 */
/** BENCH DOUBLE: an in-memory BIP 32 signer that memoizes derived nodes per path. */
function cachingSigner(root: HDKey): Secp256k1Signer {
  const nodes = new Map<string, HDKey>();
  const at = (path = 'm') => {
    let n = nodes.get(path);
    if (!n) {
      n = path === 'm' ? root : root.derive(path);
      nodes.set(path, n);
    }
    return n;
  };
  return {
    backend: 'memory',
    keyId: 'bench-caching',
    async publicKey(path) {
      return at(path).publicKey!;
    },
    async signDigest(digest, path) {
      const sig = secp256k1.Signature.fromBytes(
        secp256k1.sign(digest, at(path).privateKey!, { prehash: false, lowS: true, format: 'recovered' }),
        'recovered',
      );
      return { r: sig.r, s: sig.s, recovery: sig.recovery as 0 | 1 };
    },
    async close() {},
  };
}

const suite: BenchSuite = {
  name: 'bitcoin',
  async run(ctx): Promise<SuiteResult> {
    const ms = ctx.quick ? 300 : 2000;
    const w = wallet('sh-wsh', 100);
    const utxos = Array.from({ length: 10 }, (_, i) => fund(w, 20_000_000n + BigInt(i), i));
    const it = intent({ amount: '195000000', maxFee: '1000000' });
    const built = buildPsbt(it, w, utxos, 5, 0);
    if (built.selected.length !== 10) throw new Error(`expected 10 inputs, got ${built.selected.length}`);
    const signer = memorySigner('bench', roots[0]!);
    const noView = () => undefined;
    const cosign = async () => {
      const v = verifyPsbt(it, built.psbt, w, noView, { feeRateCeilingSatVb: 50 });
      if (!v.ok) throw new Error(v.code);
      return signPsbtInputs(built.psbt, w, signer);
    };
    const verifyOnly = measureSync(
      () => {
        if (!verifyPsbt(it, built.psbt, w, noView, { feeRateCeilingSatVb: 50 }).ok)
          throw new Error('refused');
      },
      { ms, batch: 5 },
    );
    const sign = await measure(cosign, { ms, warmup: 5 });
    // Same co-signer path with a bench-local signer that caches derived BIP 32 nodes (a backend
    // design choice, not Custos logic): shows what verification + ECDSA cost without re-deriving
    // six levels from the root on every signature.
    const cached = cachingSigner(roots[0]!);
    const signCached = await measure(
      async () => {
        const v = verifyPsbt(it, built.psbt, w, noView, { feeRateCeilingSatVb: 50 });
        if (!v.ok) throw new Error(v.code);
        return signPsbtInputs(built.psbt, w, cached);
      },
      { ms, warmup: 5 },
    );
    // Breakdown: one backend signDigest at a full BIP 48 path (memorySigner derives from the root
    // on every call) — ten of these are inside every co-signer operation above.
    const digest = new Uint8Array(32).fill(1);
    const oneSig = await measure(() => signer.signDigest(digest, "m/48'/1'/0'/1'/0/5"), { ms, warmup: 5 });

    // Watchtower block scan vs bitcoinjs-lib (bench/bitcoin-block.ts).
    const block = await benchBlockScan(ctx);
    return {
      suite: 'bitcoin',
      measurements: [
        {
          name: 'co-signer verify + sign, 2-of-3 sh-wsh, 10 inputs',
          opsPerSec: sign.opsPerSec,
          p50Us: sign.p50Us,
          p99Us: sign.p99Us,
          target: '≥ 500/s',
          met: sign.opsPerSec >= 500,
        },
        {
          name: 'co-signer verify + sign, 10 inputs, path-caching signer (bench double)',
          opsPerSec: signCached.opsPerSec,
          p50Us: signCached.p50Us,
          p99Us: signCached.p99Us,
          target: '≥ 500/s',
          met: signCached.opsPerSec >= 500,
        },
        {
          name: 'memorySigner.signDigest at a 6-level path (×10 per op above)',
          opsPerSec: oneSig.opsPerSec,
          p50Us: oneSig.p50Us,
          p99Us: oneSig.p99Us,
        },
        {
          name: 'co-signer verify only (no signing), 10 inputs',
          opsPerSec: verifyOnly.opsPerSec,
          p50Us: verifyOnly.p50Us,
          p99Us: verifyOnly.p99Us,
        },
        ...block.measurements,
      ],
      ratios: { ...block.ratios },
      notes: [
        'signing goes through memorySigner (derived child keys cached per path): 10 noble secp256k1 ECDSA signatures per PSBT bound the rate',
      ],
    };
  },
};
export default suite;
