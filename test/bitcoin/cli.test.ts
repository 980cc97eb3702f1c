import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64 } from '@scure/base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { ATTACKER, editPsbt, fund, intent, multisigDescriptor, wallet } from './fixtures.ts';

/** `custos verify psbt`: offline, exit 0 / 1 / 2, human and JSON output. */
const dir = mkdtempSync(join(tmpdir(), 'custos-psbt-'));
const w = wallet('sh-wsh');
const utxos = [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 1)];
const approved = intent();
const built = buildPsbt(approved, w, utxos, 5, 3);
const intentFile = join(dir, 'intent.json');
writeFileSync(intentFile, JSON.stringify(approved));
const desc = multisigDescriptor('sh-wsh');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    const code = await main(['node', 'custos', 'verify', 'psbt', ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
afterEach(() => vi.restoreAllMocks());

describe('custos verify psbt', () => {
  it('honest PSBT with the intent: exit 0, destination and change on its path', async () => {
    const file = join(dir, 'ok.psbt');
    writeFileSync(file, built.psbt);
    const r = await run(['--psbt', file, '--wallet', desc, '--intent', intentFile]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('DESTINATION');
    expect(r.out).toContain('our change change/3');
    expect(r.out).toContain('verdict: OK');
  });

  it('JSON output, base64 argument, no intent', async () => {
    const r = await run([
      '--psbt',
      base64.encode(built.psbt),
      '--wallet',
      desc,
      '--network',
      'regtest',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.ok).toBe(true);
    expect(j.outputs.map((o: { pays: string }) => o.pays)).toEqual(
      expect.arrayContaining(['change change/3']),
    );
    expect(
      j.inputs.every((i: { ours: unknown; proof: string }) => i.ours && i.proof === 'non_witness_utxo'),
    ).toBe(true);
    expect(Number(j.fee)).toBe(Number(built.fee));
  });

  it('destination swapped: exit 1 with DESTINATION_MISMATCH', async () => {
    const bad = editPsbt(built.psbt, (m) => {
      m.tx.outputs.find((o) => o.amount === 150_000_000n)!.script = addressToScript(ATTACKER, 'regtest');
    });
    const r = await run(['--psbt', base64.encode(bad), '--wallet', desc, '--intent', intentFile, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).code).toBe('DESTINATION_MISMATCH');
  });

  it('bad input: exit 2', async () => {
    expect((await run(['--psbt', 'not-base64!', '--wallet', desc])).code).toBe(2);
    expect((await run(['--psbt', base64.encode(built.psbt), '--wallet', desc.slice(0, -1)])).code).toBe(2);
    const r = await run([
      '--psbt',
      base64.encode(new Uint8Array([1, 2, 3])),
      '--wallet',
      desc,
      '--network',
      'regtest',
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).code).toBe('PSBT_BAD_MAGIC');
  });
});
