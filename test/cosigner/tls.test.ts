import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/cosigner/server.ts';
import { pgliteBackend } from '../helpers/db.ts';
import { harness, migrateCosigner } from './fixture.ts';

/** `listen.tls`: the co-signer API over TLS (self-signed certificate made with openssl here). */
const dir = mkdtempSync(join(tmpdir(), 'custos-cosigner-tls-'));
const backend = pgliteBackend();
afterAll(async () => {
  await backend.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('co-signer API over TLS', () => {
  it('serves over HTTPS and still requires a signed request', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })));
    const app = buildServer(h.deps, { https: { cert: readFileSync(cert), key: readFileSync(key) } });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect(url.startsWith('https://')).toBe(true);
      const r = await get(`${url}/v1/status`, readFileSync(cert));
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ ok: false, code: 'AUTH_MISSING' });
      // A client that does not trust the certificate does not get through.
      await expect(get(`${url}/v1/status`, Buffer.from(''))).rejects.toThrow();
    } finally {
      await app.close();
    }
  }, 60_000);
});
