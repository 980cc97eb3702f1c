import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { ATTACKER, DEST, intent } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'custos-verify-safe-'));
function file(name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}
async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await main(['node', 'custos', ...args]), out };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

const vectors = JSON.parse(
  readFileSync(new URL('../../../shared/vectors/safe/safe_tx_hash_vectors.json', import.meta.url), 'utf8'),
) as {
  safe_tx_vectors: {
    id: string;
    chain_id: number | null;
    safe_address: string;
    safe_version: string;
    tx: Record<string, unknown>;
    expected: Record<string, string>;
  }[];
};
const txFile = (id: string) => {
  const v = vectors.safe_tx_vectors.find((x) => x.id === id)!;
  return {
    chainId: String(v.chain_id),
    safe: v.safe_address,
    safeVersion: v.safe_version.replace('>=', ''),
    ...v.tx,
  };
};

describe('custos verify safe-tx', () => {
  it('plain ETH transfer (Sepolia vector): prints the expected hashes, no findings, exit 0', async () => {
    const r = await run([
      'verify',
      'safe-tx',
      '--file',
      file('eth.json', txFile('pcv-sepolia-eth-transfer')),
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.safeTxHash).toBe('0xcb8bbe7bf8f8a1f3f57658e450d07d4422356ac042d96a87ba425b19e67a78a1');
    expect(j.domainHash).toBe('0x611379c19940caee095cdb12bebe6a9fa9abb74cdb1fbd7377c49a1f198dc24f');
    expect(j.findings).toEqual([]);
    expect(j.call.kind).toBe('native-transfer');
  });
  it('addOwnerWithThreshold via delegatecall with a gas refund: every finding, exit 1', async () => {
    const r = await run([
      'verify',
      'safe-tx',
      '--file',
      file('bad.json', txFile('pcv-arbitrum-delegatecall-gas-refund')),
      '--json',
    ]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.safeTxHash).toBe('0xc818fceb1cace51c1a4039c4c66fc73d95eccc298104c9c52debac604b9f4e04');
    expect(j.findings.map((f: { code: string }) => f.code)).toEqual([
      'DELEGATECALL',
      'SELF_CALL',
      'PRIVILEGED_CALL',
      'GAS_REFUND',
    ]);
    expect(j.verdict).toBe('refused');
    expect(j.call.args).toEqual(['0x0c75Fa5a5F1C0997e3eEA425cFA13184ed0eC9e5', '3']);
  });
  it('with an intent: verdict against destination and amount', async () => {
    const base = {
      chainId: '31337',
      safe: '0x1111111111111111111111111111111111111111',
      safeVersion: '1.4.1',
      to: DEST,
      value: '1000000000000000000',
      data: '0x',
      operation: 0,
      safeTxGas: '0',
      baseGas: '0',
      gasPrice: '0',
      gasToken: '0x0000000000000000000000000000000000000000',
      refundReceiver: '0x0000000000000000000000000000000000000000',
      nonce: '3',
    };
    const i = file('intent.json', intent());
    const good = await run(['verify', 'safe-tx', '--file', file('ok.json', base), '--intent', i]);
    expect(good.code).toBe(0);
    expect(good.out).toMatch(/verdict\s+OK/);
    const swapped = await run([
      'verify',
      'safe-tx',
      '--file',
      file('swap.json', { ...base, to: ATTACKER }),
      '--intent',
      i,
      '--json',
    ]);
    expect(swapped.code).toBe(1);
    expect(JSON.parse(swapped.out).findings[0].code).toBe('DESTINATION_MISMATCH');
    const other = await run([
      'verify',
      'safe-tx',
      '--file',
      file('chain.json', { ...base, chainId: '1' }),
      '--intent',
      i,
      '--json',
    ]);
    expect(JSON.parse(other.out).findings[0].code).toBe('CHAIN_MISMATCH');
  });
  it.each([
    ['unknown field', { ...txFile('pcv-sepolia-eth-transfer'), extra: 1 }],
    ['float value', { ...txFile('pcv-sepolia-eth-transfer'), value: 1.5 }],
    ['unknown version', { ...txFile('pcv-sepolia-eth-transfer'), safeVersion: '7.0.0' }],
    ['duplicate key', '{"chainId":"1","chainId":"2"}'],
  ])('bad input (%s): exit 2', async (_n, content) => {
    const r = await run(['verify', 'safe-tx', '--file', file(`bad-${_n}.json`, content), '--json']);
    expect(r.code).toBe(2);
  });
});
