import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { lintPolicy } from '../../src/core/policy/lint.ts';
import { BOOK, intent, KRAKEN, policy, STRANGER } from './fixtures.ts';

const DEFAULT = new URL('../../examples/policies/default.yaml', import.meta.url).pathname;
const ADVANCED = new URL('../../examples/policies/treasury-advanced.yaml', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'custos-policy-cli-'));
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
    const code = await main(['node', 'custos', ...args]);
    return { code, out };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

describe('custos policy test', () => {
  const ctx = { now: '2026-03-04T10:00:00Z', screening: 'clear', addressBook: BOOK };
  it.each([
    ['allow', '1000000000000000000', KRAKEN, 'clear', 0],
    ['approval', '50000000000000000000', KRAKEN, 'clear', 3],
    ['blocked (unknown destination)', '1000000000000000000', STRANGER, 'clear', 4],
    ['blocked (screening hit)', '1000000000000000000', KRAKEN, 'hit', 4],
  ])('%s', async (_n, amount, destination, screening, code) => {
    const i = file(`i-${code}-${screening}.json`, intent({ amount, destination }));
    const c = file(`c-${code}-${screening}.json`, { ...ctx, screening });
    const r = await run(['policy', 'test', '--policy', DEFAULT, '--intent', i, '--context', c]);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.out).decision).toBe(code === 0 ? 'allow' : code === 3 ? 'approve' : 'block');
  });
  it('without a context: screening unavailable and an empty address book → blocked', async () => {
    const r = await run(['policy', 'test', '--policy', DEFAULT, '--intent', file('i.json', intent())]);
    expect(r.code).toBe(4);
  });
  it.each([
    ['a malformed intent', () => ['--intent', file('bad-i.json', { ...intent(), amount: '1.5' })]],
    [
      'an unknown context field',
      () => [
        '--intent',
        file('i2.json', intent()),
        '--context',
        file('bad-c.json', { ...ctx, screenign: 'clear' }),
      ],
    ],
    [
      'a malformed policy',
      () => [
        '--intent',
        file('i3.json', intent()),
        '--policy',
        file('bad.yaml', 'version: 1\nname: x\nrules: [{ name: r, action: alow }]\n'),
      ],
    ],
  ])('exit 2 on %s', async (_n, extra) => {
    const args = extra();
    const withPolicy = args.includes('--policy') ? args : ['--policy', DEFAULT, ...args];
    expect((await run(['policy', 'test', ...withPolicy])).code).toBe(2);
  });
});

describe('custos policy lint', () => {
  it.each([DEFAULT, ADVANCED])('%s is clean', async (p) => {
    const r = await run(['policy', 'lint', p, '--json']);
    expect(JSON.parse(r.out).issues.filter((i: { severity: string }) => i.severity === 'error')).toEqual([]);
    expect(r.code).toBe(0);
  });
  it('exit 1 with errors, 2 for a policy that does not load', async () => {
    const bad = file(
      'shadow.yaml',
      'version: 1\nname: x\nrules:\n  - { name: a, action: allow }\n  - { name: b, action: block, reason: r }\n',
    );
    expect((await run(['policy', 'lint', bad])).code).toBe(1);
    expect(
      (await run(['policy', 'lint', file('broken.yaml', 'version: 1\nname: x\nrules: []\n')])).code,
    ).toBe(2);
  });
});

describe('lint checks', () => {
  const codes = (body: string, header = '') =>
    lintPolicy(policy(body, header)).map((i) => `${i.code}:${i.subject ?? ''}`);
  it('rule after a catch-all is unreachable', () => {
    expect(
      codes(
        'rules:\n  - { name: all, action: allow }\n  - { name: late, action: block, reason: x, when: { wallet: [w] } }\n',
      ),
    ).toContain('RULE_UNREACHABLE:late');
  });
  it('shadowed by a wider amount range on the same asset', () => {
    const body =
      'rules:\n  - { name: small, action: allow, when: { asset: [ETH], amount: { lt: "10 ETH" } } }\n  - { name: tiny, action: block, reason: x, when: { asset: [ETH], wallet: [w], amount: { lt: "1 ETH" } } }\n';
    expect(codes(body)).toContain('RULE_SHADOWED:tiny');
  });
  it('not shadowed when the later rule is wider, names another operation or another unit', () => {
    expect(
      codes(
        'rules:\n  - { name: a, action: allow, when: { amount: { lt: "1 ETH" } } }\n  - { name: b, action: allow, when: { amount: { lt: "10 ETH" } } }\n',
      ),
    ).not.toContain('RULE_SHADOWED:b');
    expect(
      codes(
        'rules:\n  - { name: a, action: allow }\n  - { name: b, action: allow, when: { operation: [safe.enableModule] } }\n',
      ),
    ).toEqual(['NO_SCREENING_BLOCK:']);
    expect(
      codes(
        'rules:\n  - { name: a, action: allow, when: { amount: { lt: "1 ETH" } } }\n  - { name: b, action: allow, when: { amount: { lt: "1000" } } }\n',
      ),
    ).not.toContain('RULE_SHADOWED:b');
  });
  it('empty ranges are unreachable', () => {
    expect(
      codes('rules:\n  - { name: a, action: allow, when: { amount: { gt: "10", lt: "5" } } }\n'),
    ).toContain('RULE_UNREACHABLE:a');
    expect(
      codes('rules:\n  - { name: a, action: allow, when: { percentOfWalletBalance: { gt: 5, lte: 5 } } }\n'),
    ).toContain('RULE_UNREACHABLE:a');
  });
  it('quorum that the groups cannot reach', () => {
    const header = 'groups: { ops: { members: [a, b] }, sec: { members: [b] } }\n';
    const out = codes(
      'rules:\n  - { name: r, action: approve, approve: { quorum: 3, from: [ops, sec] } }\n  - { name: s, action: approve, when: { wallet: [x] }, approve: { quorum: 2, from: [ops] } }\n',
      header,
    );
    expect(out).toContain('QUORUM_UNREACHABLE:rule r');
    expect(out).toContain('QUORUM_NEEDS_REQUESTER:rule s');
  });
  it('threshold finer than the asset', () => {
    const header =
      'assets: { "eip155:1/slip44:60": { symbol: ETH, decimals: 18 }, "bip122:000000000019d6689c085ae165831e93/slip44:0": { symbol: BTC, decimals: 8 } }\n';
    expect(
      codes('rules:\n  - { name: r, action: allow, when: { amount: { lt: "0.000000001 BTC" } } }\n', header),
    ).toContain('AMOUNT_TOO_PRECISE:rule r');
  });
});
