import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/store/audit.ts';
import { openDb } from '../../src/store/open.ts';
import { sampleEntry, tamper, testClock } from '../audit/helpers.ts';

const BIN = new URL('../../bin/custos.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'custos-cli-'));
const node = join(dir, 'node');
const config = join(node, 'config.yaml');
const env = { ...process.env, CUSTOS_TEST_PASSPHRASE: 'correct horse battery' };

function custos(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

let nodeKey = '';

beforeAll(async () => {
  const init = custos('init', '--dir', node, '--passphrase-env', 'CUSTOS_TEST_PASSPHRASE', '--json');
  expect(init.code, init.stderr).toBe(0);
  nodeKey = init.json!.nodeKey as string;
  // Seed 120 entries into the node's embedded database, as the coordinator would.
  const db = await openDb({ dataDir: join(node, 'data') });
  const log = new AuditLog(db, { now: testClock() });
  await Promise.all(Array.from({ length: 120 }, (_, i) => log.append(sampleEntry(i))));
  await db.close();
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every case spawns `node bin/custos.mjs` (tsx start-up + PGlite): generous on a loaded 2-core box.
const SLOW = { timeout: 300_000 };

describe('custos init', SLOW, () => {
  it('writes a strict config and a 0600 encrypted keystore', () => {
    expect(nodeKey).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(node, 'node-key.json')).mode & 0o777).toBe(0o600);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const ks = JSON.parse(readFileSync(join(node, 'node-key.json'), 'utf8'));
    expect(ks).toMatchObject({ keyType: 'ed25519', publicKey: nodeKey, kdf: { name: 'scrypt' } });
    expect(readFileSync(config, 'utf8')).toContain(nodeKey);
  });

  it('refuses to overwrite an existing node and needs a passphrase source', () => {
    const again = custos('init', '--dir', node, '--passphrase-env', 'CUSTOS_TEST_PASSPHRASE', '--json');
    expect(again.code).toBe(2);
    expect(again.json).toMatchObject({ ok: false, code: 'ALREADY_INITIALIZED' });
    const none = custos('init', '--dir', join(dir, 'other'), '--json');
    expect(none.code).toBe(2);
    expect(none.json).toMatchObject({ code: 'PASSPHRASE_MISSING', field: '--passphrase-env' });
  });
});

describe('custos audit', SLOW, () => {
  const out = join(dir, 'log.ndjson');

  it('signs a checkpoint, verifies the database, exports and verifies the file offline', () => {
    const cp = custos(
      'audit',
      'checkpoint',
      '--config',
      config,
      '--passphrase-env',
      'CUSTOS_TEST_PASSPHRASE',
      '--json',
    );
    expect(cp.code, cp.stderr).toBe(0);
    expect(cp.json).toMatchObject({ ok: true, checkpoint: { seq: 120, keyId: nodeKey } });

    const v = custos('audit', 'verify', '--config', config, '--json');
    expect(v.code, v.stderr).toBe(0);
    expect(v.json).toMatchObject({ ok: true, entries: 120, lastCheckpointSeq: 120 });

    const ex = custos('audit', 'export', '--config', config, '--out', out, '--json');
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.json).toMatchObject({ ok: true, entries: 120, checkpoints: 1 });

    const f = custos('audit', 'verify', '--file', out, '--checkpoint-key', nodeKey, '--json');
    expect(f.code, f.stdout).toBe(0);
    expect(f.json).toMatchObject({ ok: true, entries: 120, checkpoints: 1 });
    expect(custos('audit', 'verify', '--file', out, '--checkpoint-key', nodeKey).stdout).toMatch(
      /^ok: 120 entries/,
    );
  });

  it('names the first bad seq of a tampered export (exit 1)', () => {
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const variants: Array<[string, string[], Record<string, unknown>]> = [
      [
        'edit',
        lines.map((l, i) => (i === 31 ? l.replace('"amount\\":\\"1030', '"amount\\":\\"9030') : l)),
        { kind: 'edit', seq: 31 },
      ],
      ['deletion', lines.filter((_, i) => i !== 40), { kind: 'deletion', seq: 40 }],
      [
        'reorder',
        lines.map((l, i) => (i === 50 ? lines[51]! : i === 51 ? lines[50]! : l)),
        { kind: 'reorder', seq: 50 },
      ],
      ['truncation', lines.slice(0, 101).concat(lines[lines.length - 1]!), { kind: 'truncation', seq: 101 }],
    ];
    for (const [name, ls, expected] of variants) {
      const p = join(dir, `${name}.ndjson`);
      writeFileSync(p, `${ls.join('\n')}\n`);
      expect(ls.join('\n'), name).not.toBe(lines.join('\n'));
      const r = custos('audit', 'verify', '--file', p, '--checkpoint-key', nodeKey, '--json');
      expect(r.code, name).toBe(1);
      expect(r.json, name).toMatchObject({ ok: false, ...expected });
    }
    const other = 'ab'.repeat(32);
    const unknown = custos('audit', 'verify', '--file', out, '--checkpoint-key', other, '--json');
    expect(unknown.code).toBe(1);
    expect(unknown.json).toMatchObject({ kind: 'unknown-key', seq: 120 });
    expect(custos('audit', 'verify', '--file', out, '--checkpoint-key', other).stdout).toMatch(
      /^FAILED at seq 120/,
    );
  });

  it('exits 2 on bad input, naming the field', () => {
    const badKey = custos('audit', 'verify', '--file', out, '--checkpoint-key', 'xyz', '--json');
    expect(badKey.code).toBe(2);
    expect(badKey.json).toMatchObject({ code: 'INVALID_KEY', field: '--checkpoint-key' });
    const noKey = custos('audit', 'verify', '--file', out, '--json');
    expect(noKey.json).toMatchObject({ code: 'NO_CHECKPOINT_KEYS' });
    expect(noKey.code).toBe(2);
    const missing = custos(
      'audit',
      'verify',
      '--file',
      join(dir, 'nope.ndjson'),
      '--checkpoint-key',
      nodeKey,
      '--json',
    );
    expect(missing.code).toBe(2);
    expect(missing.json).toMatchObject({ code: 'FILE_UNREADABLE', field: '--file' });
    const garbled = join(dir, 'garbled.ndjson');
    const lines = readFileSync(out, 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"type":"entry"', '"type":"entry","extra":1');
    writeFileSync(garbled, lines.join('\n'));
    const g = custos('audit', 'verify', '--file', garbled, '--checkpoint-key', nodeKey, '--json');
    expect(g.code).toBe(2);
    expect(g.json).toMatchObject({ code: 'AUDIT_EXPORT_LINE', field: 'line 4' });
    const exists = custos('audit', 'export', '--config', config, '--out', out, '--json');
    expect(exists.code).toBe(2);
    expect(exists.json).toMatchObject({ field: '--out' });
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(
      badConfig,
      readFileSync(config, 'utf8').replace('checkpointEvery: 1000', 'checkpointEvery: 1000\n  extra: 1'),
    );
    const bc = custos('audit', 'verify', '--config', badConfig, '--json');
    expect(bc.code).toBe(2);
    expect(bc.json).toMatchObject({ code: 'CONFIG_INVALID', field: 'audit.extra' });
    expect(custos('audit', 'frobnicate').code).toBe(2);
  });

  it('fails verification of a database tampered through SQL (exit 1)', async () => {
    const db = await openDb({ dataDir: join(node, 'data') });
    await tamper(db, [['DELETE FROM audit_log WHERE seq = 77']]);
    await db.close();
    const v = custos('audit', 'verify', '--config', config, '--json');
    expect(v.code).toBe(1);
    expect(v.json).toMatchObject({ ok: false, kind: 'deletion', seq: 77, code: 'AUDIT_ENTRY_DELETED' });
  });
});
