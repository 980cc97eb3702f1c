import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildStatusHttpRequest, ed25519RawPublicKey } from '../../src/core/auth/index.ts';
import { freshToken, softhsmAvailable } from '../helpers/softhsm.ts';
import { bundleFor, COORDINATOR_KEY_ID, coordinatorKey, genesis } from './fixture.ts';
import { kill9, startDaemon } from './process.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/custos.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'custos-cosigner-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function custos(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('custos cosigner keygen / daemon', () => {
  it('keygen --backend file prints the public key, address and xpub only; the keystore is 0600', async () => {
    const out = join(dir, 'seed.json');
    const r = await custos(
      [
        'cosigner',
        'keygen',
        '--backend',
        'file',
        '--type',
        'bip32-seed',
        '--out',
        out,
        '--label',
        'cos-a',
        '--passphrase-env',
        'PP',
        '--json',
      ],
      { PP: 'a long enough passphrase' },
    );
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, backend: 'file', keyId: 'cos-a' });
    expect(j.publicKey).toMatch(/^0[23][0-9a-f]{64}$/);
    expect(j.xpub).toMatch(/^xpub/);
    expect(j.evmAddress).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(Object.keys(j).sort()).toEqual(['backend', 'evmAddress', 'keyId', 'ok', 'publicKey', 'xpub']);
    expect(r.stdout).not.toMatch(/xprv|ciphertext|secret/);
    expect(JSON.parse(readFileSync(out, 'utf8')).keyType).toBe('bip32-seed');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // Never overwrites, and a passphrase on argv is not an option at all.
    const again = await custos(
      ['cosigner', 'keygen', '--backend', 'file', '--out', out, '--passphrase-env', 'PP'],
      {
        PP: 'a long enough passphrase',
      },
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/KEYSTORE_EXISTS/);
    expect(
      (
        await custos([
          'cosigner',
          'keygen',
          '--backend',
          'file',
          '--out',
          join(dir, 'x.json'),
          '--passphrase',
          'p',
        ])
      ).code,
    ).toBe(2);
  }, 120_000);

  it('a config error names the key', async () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, stringify({ id: 'c', listen: { port: 0 }, bogus: 1 }));
    const r = await custos(['cosigner', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/COSIGNER_CONFIG_INVALID/);
  }, 60_000);

  const hsm = softhsmAvailable();
  it.runIf(hsm)(
    'keygen --backend pkcs11 on SoftHSM, then the daemon serves with that token key',
    async () => {
      const token = freshToken('cosigner-cli');
      try {
        const env = { SOFTHSM2_CONF: token.conf, HSM_PIN: token.pin };
        const r = await custos(
          [
            'cosigner',
            'keygen',
            '--backend',
            'pkcs11',
            '--token-label',
            token.tokenLabel,
            '--label',
            'cos-hsm',
            '--pin-env',
            'HSM_PIN',
            '--json',
          ],
          env,
        );
        expect(r.code, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout);
        expect(j).toMatchObject({ ok: true, backend: 'pkcs11', keyId: 'cos-hsm' });
        writeFileSync(join(dir, 'genesis.json'), JSON.stringify(genesis));
        writeFileSync(join(dir, 'bundle.json'), JSON.stringify([bundleFor(j.evmAddress)]));
        const cfg = join(dir, 'hsm.yaml');
        writeFileSync(
          cfg,
          stringify({
            id: 'cosigner-a',
            listen: { host: '127.0.0.1', port: 0 },
            store: { pgliteDir: join(dir, 'hsm-db') },
            key: {
              backend: 'pkcs11',
              library: token.library,
              tokenLabel: token.tokenLabel,
              keyLabel: 'cos-hsm',
              pin: { env: 'HSM_PIN' },
            },
            genesis: { file: join(dir, 'genesis.json') },
            bundle: { file: join(dir, 'bundle.json') },
            requestKeys: [
              {
                keyId: COORDINATOR_KEY_ID,
                publicKey: Buffer.from(ed25519RawPublicKey(coordinatorKey)).toString('hex'),
              },
            ],
          }),
        );
        const d = await startDaemon(cfg, env);
        try {
          const http = buildStatusHttpRequest(
            { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
            'cosigner-a',
            {
              timestampMs: Date.now(),
              nonce: randomBytes(16),
            },
          );
          const s = await (await fetch(`${d.url}${http.path}`, { headers: http.headers })).json();
          expect(s).toMatchObject({
            ok: true,
            keyBackend: 'pkcs11',
            publicKey: j.publicKey,
            bundle: { sequence: 1 },
          });
        } finally {
          await kill9(d);
        }
      } finally {
        token.cleanup();
      }
    },
    120_000,
  );
});
