import { describe, expect, it } from 'vitest';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { inspectPsbt, type UtxoView } from '../../src/core/chains/bitcoin/inspect.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { editPsbt, fund, intent, roots, wallet } from './fixtures.ts';

/**
 * inspectPsbt remembers its last inspections per wallet so `signPsbtInputs` after `verifyPsbt`
 * does not decode the same PSBT twice. The attack to rule out: verification of bytes A lending its
 * result to signing of bytes B (TOCTOU), or a caller mutating the array in between.
 */
function setup() {
  const w = wallet('sh-wsh', 100);
  const utxos = Array.from({ length: 3 }, (_, i) => fund(w, 20_000_000n + BigInt(i), i));
  const it = intent({ amount: '45000000', maxFee: '1000000' });
  const built = buildPsbt(it, w, utxos, 5, 0);
  return { w, it, psbt: built.psbt };
}

describe('inspectPsbt memo', () => {
  it('same wallet, same view and equal bytes (even another array) give the shared, frozen inspection', () => {
    const { w, psbt } = setup();
    const view: UtxoView = () => undefined;
    const a = inspectPsbt(psbt, w, view);
    expect(inspectPsbt(psbt.slice(), w, view)).toBe(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a.inputs) && Object.isFrozen(a.findings)).toBe(true);
    expect(() => (a.findings as unknown[]).push({ code: 'X', message: 'x' })).toThrow(TypeError);
    // Another view (another request's snapshot) is inspected afresh, with the same result.
    const b = inspectPsbt(psbt, w, () => undefined);
    expect(b).not.toBe(a);
    expect(b.txid).toBe(a.txid);
  });

  it('mutating the caller array after inspection cannot change what a later call sees', () => {
    const { w, psbt } = setup();
    const view: UtxoView = () => undefined;
    const bytes = psbt.slice();
    const first = inspectPsbt(bytes, w, view);
    const txid = first.txid;
    // Rewrite the unsigned tx's locktime in the caller's own array (same length, in place).
    const edited = editPsbt(psbt, (m) => {
      m.tx.lockTime = 1234;
    });
    expect(edited.length).toBe(bytes.length);
    bytes.set(edited);
    const second = inspectPsbt(bytes, w, view);
    expect(second).not.toBe(first);
    expect(second.txid).not.toBe(txid);
    expect(second.locktime).toBe(1234);
    expect(first.txid).toBe(txid); // the cached inspection is of its own private copy
  });

  it('verify(A) then sign(B) with the same view signs B, exactly as signing B from scratch', async () => {
    const { w, it, psbt: honest } = setup();
    const view: UtxoView = () => undefined;
    expect(verifyPsbt(it, honest, w, view, { feeRateCeilingSatVb: 50 }).ok).toBe(true);
    // B: same inputs, the destination output's amount lowered by 1 sat (more fee).
    const other = editPsbt(honest, (m) => {
      m.tx.outputs[0]!.amount -= 1n;
    });
    const signer = memorySigner('a', roots[0]!);
    const afterVerify = await signPsbtInputs(other, w, signer, view);
    const scratch = await signPsbtInputs(other, w, memorySigner('a', roots[0]!), () => undefined);
    const honestSigs = await signPsbtInputs(honest, w, memorySigner('a', roots[0]!), () => undefined);
    const hex = (s: { signatures: { signature: Uint8Array }[] }) =>
      s.signatures.map((x) => Buffer.from(x.signature).toString('hex'));
    expect(hex(afterVerify)).toEqual(hex(scratch));
    expect(hex(afterVerify)).not.toEqual(hex(honestSigs));
    expect(Buffer.from(afterVerify.psbt).equals(Buffer.from(scratch.psbt))).toBe(true);
  });
});
