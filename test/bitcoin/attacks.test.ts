import { Transaction } from '@scure/btc-signer';
import { describe, expect, it } from 'vitest';
import { inflateWitnessUtxoAmounts } from '../../src/coordinator/local/bitcoin-attack.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import type { UtxoView } from '../../src/core/chains/bitcoin/inspect.ts';
import { PSBT_OPTS } from '../../src/core/chains/bitcoin/psbt/decode.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { ATTACKER, editPsbt, fund, intent, roots, wallet } from './fixtures.ts';

function u32(n: number, le: boolean): number[] {
  const b = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
  return le ? b : b.reverse();
}

/**
 * Attacks on the co-signer's PSBT check (T1, T6, T7). Each one starts from an honest PSBT for the
 * approved intent, tampers as a compromised coordinator / vendor messaging system would (the
 * DMM Bitcoin path), and expects the typed refusal.
 */
const w = wallet('sh-wsh');
const utxos = [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 1)];
const approved = intent();
const honest = buildPsbt(approved, w, utxos, 5, 3);
const attacker = addressToScript(ATTACKER, 'regtest');
const opts = { feeRateCeilingSatVb: 20 };
const noView: UtxoView = () => undefined;

function tamper(psbt: Uint8Array, fn: (tx: Transaction) => void): Uint8Array {
  const tx = Transaction.fromPSBT(psbt, PSBT_OPTS);
  fn(tx);
  return tx.toPSBT(0);
}
function outputIndex(tx: Transaction, pred: (script: Uint8Array, amount: bigint) => boolean): number {
  for (let i = 0; i < tx.outputsLength; i++)
    if (pred(tx.getOutput(i).script!, tx.getOutput(i).amount!)) return i;
  throw new Error('no such output');
}
const isDest = (_s: Uint8Array, a: bigint) => a === 150_000_000n;
const isChange = (_s: Uint8Array, a: bigint) => a !== 150_000_000n;
function refusal(psbt: Uint8Array, it = approved, o: Parameters<typeof verifyPsbt>[4] = opts, view = noView) {
  const r = verifyPsbt(it, psbt, w, view, o);
  expect(r.ok).toBe(false);
  return r.ok ? undefined : r;
}

describe('co-signer refuses tampered PSBTs', () => {
  it('honest PSBT passes', () => {
    expect(verifyPsbt(approved, honest.psbt, w, noView, opts).ok).toBe(true);
  });

  it('destination swapped after approval (DMM): DESTINATION_MISMATCH', () => {
    const p = tamper(honest.psbt, (tx) => tx.updateOutput(outputIndex(tx, isDest), { script: attacker }));
    const r = refusal(p)!;
    expect(r.code).toBe('DESTINATION_MISMATCH');
    // The attacker's output is also reported.
    expect(JSON.stringify(r.details)).toContain('EXTRA_OUTPUT');
  });

  it('amount changed: AMOUNT_MISMATCH', () => {
    const p = tamper(honest.psbt, (tx) => {
      const i = outputIndex(tx, isDest);
      tx.updateOutput(i, { amount: 150_000_001n });
      const c = outputIndex(tx, isChange);
      tx.updateOutput(c, { amount: tx.getOutput(c).amount! - 1n });
    });
    expect(refusal(p)!.code).toBe('AMOUNT_MISMATCH');
  });

  it('change redirected to an attacker, derivation kept: CHANGE_NOT_OURS', () => {
    const redirect = (keepScripts: boolean) =>
      editPsbt(honest.psbt, (m) => {
        const c = m.tx.outputs.findIndex((o) => o.amount !== 150_000_000n);
        m.tx.outputs[c]!.script = attacker;
        // BIP 174 output fields: 0x00 redeemScript, 0x01 witnessScript, 0x02 bip32 derivation.
        if (!keepScripts) m.outputs[c] = m.outputs[c]!.filter((kv) => kv.type === 0x02);
      });
    expect(refusal(redirect(false))!.code).toBe('CHANGE_NOT_OURS');
    expect(refusal(redirect(true))!.code).toBe('CHANGE_NOT_OURS');
  });

  it('change redirected to an attacker, derivation stripped: EXTRA_OUTPUT', () => {
    const src = Transaction.fromPSBT(honest.psbt, PSBT_OPTS);
    const tx = new Transaction({ ...PSBT_OPTS, version: 2, lockTime: 0 });
    for (let i = 0; i < src.inputsLength; i++) tx.addInput(src.getInput(i));
    for (let i = 0; i < src.outputsLength; i++) {
      const o = src.getOutput(i);
      tx.addOutput(
        o.amount === 150_000_000n
          ? { script: o.script!, amount: o.amount! }
          : { script: attacker, amount: o.amount! },
      );
    }
    expect(refusal(tx.toPSBT(0))!.code).toBe('EXTRA_OUTPUT');
  });

  it('change to our own receive branch is not change: CHANGE_NOT_OURS', () => {
    const recv = deriveOutput(w, 'receive', 3);
    const p = editPsbt(honest.psbt, (m) => {
      const c = m.tx.outputs.findIndex((o) => o.amount !== 150_000_000n);
      m.tx.outputs[c]!.script = recv.script;
      m.outputs[c] = recv.keys.map((k) => ({
        type: 0x02,
        key: new Uint8Array([0x02, ...k.pubkey]),
        value: new Uint8Array([...u32(k.fingerprint, false), ...k.path.flatMap((x) => u32(x, true))]),
      }));
    });
    expect(refusal(p)!.code).toBe('CHANGE_NOT_OURS');
  });

  it('extra output: EXTRA_OUTPUT', () => {
    const p = tamper(honest.psbt, (tx) => {
      const c = outputIndex(tx, isChange);
      tx.updateOutput(c, { amount: tx.getOutput(c).amount! - 10_000n });
      tx.addOutput({ script: attacker, amount: 10_000n });
    });
    expect(refusal(p)!.code).toBe('EXTRA_OUTPUT');
  });

  it('OP_RETURN output: OP_RETURN_OUTPUT', () => {
    const p = tamper(honest.psbt, (tx) =>
      tx.addOutput({ script: new Uint8Array([0x6a, 0x02, 0xbe, 0xef]), amount: 0n }),
    );
    expect(refusal(p)!.code).toBe('OP_RETURN_OUTPUT');
  });

  it('fee siphon via inflated input amount without non_witness_utxo (CVE-2020-14199): INPUT_AMOUNT_UNPROVEN', () => {
    // The attacker claims input 0 is worth more than it is, so the fee the signer "sees" is small.
    const inflated = inflateWitnessUtxoAmounts(honest.psbt, 5_000_000n);
    const r = refusal(inflated)!;
    expect(r.code).toBe('INPUT_AMOUNT_UNPROVEN');
    // With the co-signer's own UTXO view the real amounts are known and the lie is named.
    const real = new Map(utxos.map((u) => [`${u.txid}:${u.vout}`, u]));
    const view = (o: { txid: string; vout: number }) => {
      const u = real.get(`${o.txid}:${o.vout}`);
      return u && { value: u.value, script: deriveOutput(w, u.branch, u.index).script };
    };
    expect(refusal(inflated, approved, opts, view)!.code).toBe('INPUT_AMOUNT_UNPROVEN');
    // And the signer refuses to sign an input whose amount it cannot prove.
    return expect(signPsbtInputs(inflated, w, memorySigner('a', roots[0]!))).rejects.toMatchObject({
      code: 'INPUT_AMOUNT_UNPROVEN',
    });
  });

  it('non_witness_utxo of another transaction: PSBT_INVALID (prevout mismatch)', () => {
    const other = fund(w, 100_000_000n, 0, 'receive', 5);
    const p = editPsbt(honest.psbt, (m) => {
      m.inputs[0] = m.inputs[0]!.map((kv) => (kv.type === 0x00 ? { ...kv, value: other.prevTx } : kv));
    });
    const r = refusal(p)!;
    expect(r.code).toBe('PSBT_INVALID');
    expect(r.details?.reason).toBe('PSBT_PREVOUT_MISMATCH');
  });

  it('look-alike destination (from the policy engine): LOOKALIKE_DESTINATION', () => {
    const r = refusal(honest.psbt, approved, {
      ...opts,
      lookalike: (a) => ({ code: 'LOOKALIKE', message: `${a} resembles an address-book entry` }),
    })!;
    expect(r.code).toBe('LOOKALIKE_DESTINATION');
  });

  it.each([
    ['SIGHASH_NONE', 0x02],
    ['SIGHASH_ALL|ANYONECANPAY', 0x81],
    ['SIGHASH_SINGLE', 0x03],
  ])('%s requested on an input: SIGHASH_NOT_ALL', (_n, t) => {
    const p = tamper(honest.psbt, (tx) => tx.updateInput(1, { sighashType: t }, true));
    expect(refusal(p)!.code).toBe('SIGHASH_NOT_ALL');
  });

  it('another co-signer already signed with SIGHASH_NONE: SIGHASH_NOT_ALL', async () => {
    const signed = await signPsbtInputs(honest.psbt, w, memorySigner('a', roots[0]!));
    const p = editPsbt(signed.psbt, (m) => {
      m.inputs[0] = m.inputs[0]!.map((kv) => {
        if (kv.type !== 0x02) return kv; // PSBT_IN_PARTIAL_SIG
        const v = kv.value.slice();
        v[v.length - 1] = 0x02; // SIGHASH_NONE: the outputs could be rewritten after signing
        return { ...kv, value: v };
      });
    });
    expect(refusal(p)!.code).toBe('SIGHASH_NOT_ALL');
  });

  it('PSBT with duplicate keys: PSBT_INVALID / PSBT_DUPLICATE_KEY', () => {
    // Two witness_utxo entries for one input: a lenient parser keeps one, the approver's UI the
    // other. BIP 174: keys within a scope must be unique.
    const p = editPsbt(honest.psbt, (m) => {
      const wu = m.inputs[0]!.find((kv) => kv.type === 0x01)!;
      const lie = wu.value.slice();
      lie[0] = lie[0]! ^ 0xff;
      m.inputs[0]!.push({ ...wu, value: lie });
    });
    const r = refusal(p)!;
    expect(r.code).toBe('PSBT_INVALID');
    expect(r.details?.reason).toBe('PSBT_DUPLICATE_KEY');
  });

  it('fee above the intent maxFee or the rate ceiling: FEE_ABOVE_MAX', () => {
    expect(refusal(honest.psbt, intent({ maxFee: '10' }))!.code).toBe('FEE_ABOVE_MAX');
    expect(refusal(honest.psbt, approved, { feeRateCeilingSatVb: 1 })!.code).toBe('FEE_ABOVE_MAX');
    // Fee siphon by shrinking the change: still provable amounts, but the fee explodes.
    const p = tamper(honest.psbt, (tx) => {
      const c = outputIndex(tx, isChange);
      tx.updateOutput(c, { amount: tx.getOutput(c).amount! - 1_000_000n });
    });
    expect(refusal(p)!.code).toBe('FEE_ABOVE_MAX');
  });

  it('a foreign input: INPUT_NOT_OURS', () => {
    const foreign = fund(wallet('wsh'), 1_000_000n, 4);
    const fw = wallet('wsh');
    const d = deriveOutput(fw, 'receive', 4);
    const p = tamper(honest.psbt, (tx) =>
      tx.addInput({
        txid: foreign.txid,
        index: foreign.vout,
        sequence: 0xfffffffd,
        nonWitnessUtxo: foreign.prevTx,
        witnessUtxo: { script: d.script, amount: foreign.value },
        witnessScript: d.witnessScript!,
      }),
    );
    expect(refusal(p)!.code).toBe('INPUT_NOT_OURS');
  });

  it('an input whose claimed derivation points at another index: INPUT_NOT_OURS', () => {
    const p = tamper(honest.psbt, (tx) => {
      const inp = tx.getInput(0);
      const other = deriveOutput(w, 'receive', 9);
      tx.updateInput(
        0,
        {
          bip32Derivation: other.keys.map((k) => [k.pubkey, { fingerprint: k.fingerprint, path: k.path }]),
          witnessScript: inp.witnessScript!,
        },
        true,
      );
    });
    const r = verifyPsbt(approved, p, w, noView, opts);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('INPUT_NOT_OURS');
  });

  it('future locktime and relative-lock sequences: BAD_LOCKTIME, BAD_SEQUENCE', () => {
    const lock = (lt: number) => {
      const src = Transaction.fromPSBT(honest.psbt, PSBT_OPTS);
      const tx = new Transaction({ ...PSBT_OPTS, version: 2, lockTime: lt });
      for (let i = 0; i < src.inputsLength; i++) tx.addInput(src.getInput(i));
      for (let i = 0; i < src.outputsLength; i++) tx.addOutput(src.getOutput(i));
      return tx.toPSBT(0);
    };
    expect(refusal(lock(900_000))!.code).toBe('BAD_LOCKTIME');
    expect(refusal(lock(1_900_000_000), approved, { ...opts, currentHeight: 900_000 })!.code).toBe(
      'BAD_LOCKTIME',
    );
    expect(verifyPsbt(approved, lock(900_000), w, noView, { ...opts, currentHeight: 900_000 }).ok).toBe(true);
    const p = tamper(honest.psbt, (tx) => tx.updateInput(0, { sequence: 144 }, true));
    expect(refusal(p)!.code).toBe('BAD_SEQUENCE');
  });

  it('intent for another network: WRONG_CHAIN', () => {
    const main = intent({
      chain: 'bip122:000000000019d6689c085ae165831e93',
      asset: 'bip122:000000000019d6689c085ae165831e93/slip44:0',
      destination: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
    });
    expect(refusal(honest.psbt, main)!.code).toBe('WRONG_CHAIN');
  });

  it('garbage bytes: PSBT_INVALID, never a throw', () => {
    expect(refusal(new Uint8Array([1, 2, 3]))!.code).toBe('PSBT_INVALID');
  });
});
