import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicy, policyDigest, policyFromDocument } from '../../src/core/policy/load.ts';
import { policyJsonSchema, policySchema } from '../../src/core/policy/schema.ts';

const EXAMPLES = new URL('../../examples/policies/', import.meta.url).pathname;
const SCHEMA_FILE = new URL('../../schemas/policy.schema.json', import.meta.url).pathname;

function loadError(text: string): Record<string, unknown> {
  try {
    loadPolicy(text, 'bad.yaml');
  } catch (e) {
    return e as Record<string, unknown>;
  }
  throw new Error('expected the policy to be refused');
}

describe('policy loading', () => {
  it('the published JSON Schema is the one generated from the zod schema', () => {
    expect(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))).toEqual(policyJsonSchema());
  });

  const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  it('ships example policies', () => expect(examples.length).toBeGreaterThanOrEqual(2));

  it.each(examples)('%s validates against the JSON Schema and loads with zod', (file) => {
    const text = readFileSync(EXAMPLES + file, 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../schemas/policy.schema.json');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
    const doc = parse(text);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(policySchema.safeParse(doc).success).toBe(true);
    expect(loadPolicy(text, file).digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('JSON Schema and zod agree on bad documents too', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(policyJsonSchema());
    const bad = [
      { version: 1, name: 'x', rules: [{ name: 'r', action: 'allow', when: { amout: { lt: '1' } } }] },
      { version: 2, name: 'x', rules: [{ name: 'r', action: 'allow' }] },
      { version: 1, name: 'x', rules: [] },
      { version: 1, name: 'x', rules: [{ name: 'r', action: 'allow', when: { amount: { lt: '1.5' } } }] },
      { version: 1, name: 'x', rules: [{ name: 'r', action: 'allow', delay: '1 hour' }] },
    ];
    for (const doc of bad) {
      expect(validate(doc)).toBe(false);
      expect(policySchema.safeParse(doc).success).toBe(false);
    }
  });

  it('names file, line and field of an unknown key', () => {
    const e = loadError(
      'version: 1\nname: p\nrules:\n  - name: r\n    action: allow\n    when:\n      amout: { lt: "1" }\n',
    );
    expect(e.code).toBe('POLICY_INVALID');
    expect(e.field).toBe('rules.0.when.amout');
    expect(e.details).toMatchObject({ file: 'bad.yaml', line: 7 });
    expect(String(e.message)).toContain('bad.yaml:');
  });

  it('names the line of a bad value', () => {
    const e = loadError(
      'version: 1\nname: p\nrules:\n  - name: r\n    action: approve\n    approve: { quorum: 0, from: [ops] }\n',
    );
    expect(e.field).toBe('rules.0.approve.quorum');
    expect(e.details).toMatchObject({ line: 6 });
  });

  it.each([
    [
      'duplicate YAML key',
      'version: 1\nname: p\nname: q\nrules: [{ name: r, action: allow }]\n',
      'POLICY_YAML',
    ],
    ['not YAML', 'version: 1\nrules: [\n', 'POLICY_YAML'],
    [
      'an alias bomb',
      `version: 1\nname: p\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nrules: [{ name: r, action: allow }]\n`,
      'POLICY_YAML',
    ],
    [
      'a merge key',
      'version: 1\nname: p\nbase: &b { action: allow }\nrules: [{ <<: *b, name: r }]\n',
      'POLICY_INVALID',
    ],
    ['block without reason', 'version: 1\nname: p\nrules: [{ name: r, action: block }]\n', 'POLICY_INVALID'],
    [
      'approve without approvers',
      'version: 1\nname: p\nrules: [{ name: r, action: approve }]\n',
      'POLICY_INVALID',
    ],
    [
      'duplicate rule name',
      'version: 1\nname: p\nrules: [{ name: r, action: allow }, { name: r, action: allow }]\n',
      'POLICY_INVALID',
    ],
    [
      'bad chain id',
      'version: 1\nname: p\nrules: [{ name: r, action: allow, when: { chain: ["eth"] } }]\n',
      'POLICY_INVALID',
    ],
    [
      'bad time zone',
      'version: 1\nname: p\nrules: [{ name: r, action: allow, when: { schedule: { timezone: Mars/Olympus } } }]\n',
      'POLICY_INVALID',
    ],
    [
      'unknown group',
      'version: 1\nname: p\ngroups: { ops: { members: [a] } }\nrules: [{ name: r, action: approve, approve: { quorum: 1, from: [opz] } }]\n',
      'POLICY_INVALID',
    ],
    [
      'float amount',
      'version: 1\nname: p\nrules: [{ name: r, action: allow, when: { amount: { lt: 1.5 } } }]\n',
      'POLICY_INVALID',
    ],
    [
      'limit without window',
      'version: 1\nname: p\nrules: [{ name: r, action: allow }]\nlimits: [{ name: l, sum: "1" }]\n',
      'POLICY_INVALID',
    ],
  ])('refuses %s', (_what, text, code) => {
    expect(loadError(text).code).toBe(code);
  });

  it.each(examples)('%s round-trips through its JSON document with the same digest', (file) => {
    const p = loadPolicy(readFileSync(EXAMPLES + file, 'utf8'), file);
    const again = policyFromDocument(JSON.parse(JSON.stringify(p.document)), `${file}.json`);
    expect(again.digest).toBe(p.digest);
    expect(() => policyFromDocument({ ...p.document, extra: 1 }, 'x.json')).toThrow(/extra/);
  });

  it('the digest ignores key order, comments, YAML style and the $schema hint', () => {
    const a = loadPolicy(
      'version: 1\nname: p\nrules:\n  - { name: r, action: allow, when: { wallet: [w] } }\n',
      'a',
    );
    const b = loadPolicy(
      '# comment\nrules:\n  - when:\n      wallet:\n        - w\n    action: allow\n    name: r\nname: p\nversion: 1\n$schema: x\n',
      'b',
    );
    expect(b.digest).toBe(a.digest);
    expect(policyDigest(a)).toBe(a.digest);
    const c = loadPolicy(
      'version: 1\nname: p\nrules:\n  - { name: r, action: allow, when: { wallet: [v] } }\n',
      'c',
    );
    expect(c.digest).not.toBe(a.digest);
  });
});
