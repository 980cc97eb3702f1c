import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ed25519RawPublicKey } from '../../src/core/auth/index.ts';
import { signerAddress } from '../../src/core/chains/evm/index.ts';
import { parseCosignerConfig } from '../../src/cosigner/config.ts';
import { startCosigner } from '../../src/cosigner/daemon.ts';
import { generateFileKey, openFileSigner } from '../../src/keys/file.ts';
import { config, nextBundle } from '../governance/fixtures.ts';
import {
  admins,
  bundleFor,
  COORDINATOR_KEY_ID,
  coordinatorKey,
  genesis,
  NOW,
  principals,
} from './fixture.ts';

/**
 * The trust bundle fetched from the coordinator's URL and verified locally: the co-signer adopts a
 * chain that verifies from its pinned genesis, and keeps it when the coordinator later serves a
 * tampered chain or an older one (rollback).
 */
const dir = mkdtempSync(join(tmpdir(), 'custos-cosigner-fetch-'));
let served = '[]';
const server: Server = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(served);
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('trust bundle from the coordinator URL', () => {
  it('adopts a verified chain, refuses a tampered one and a rollback', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const keyPath = join(dir, 'key.json');
    await generateFileKey({
      path: keyPath,
      passphrase: 'fetch-test-pass',
      label: 'c',
      keyType: 'secp256k1',
      scrypt: { N: 1 << 10, r: 8, p: 1 },
    });
    const s = await openFileSigner({ path: keyPath, passphrase: 'fetch-test-pass' });
    const address = await signerAddress(s);
    await s.close();
    const b1 = bundleFor(address);
    const b2 = nextBundle(
      b1,
      admins.slice(0, 2),
      {
        ...config(admins),
        principals: principals(),
        wallets: b1.config.wallets,
        policy: b1.config.policy,
        addressBook: b1.config.addressBook,
      },
      '2026-03-01T10:00:30Z',
      86_400_000,
    );
    served = JSON.stringify([b1]);
    process.env.FETCH_TEST_PASS = 'fetch-test-pass';
    const cfg = parseCosignerConfig({
      id: 'cosigner-a',
      listen: { host: '127.0.0.1', port: 0 },
      store: { pgliteDir: join(dir, 'db') },
      key: { backend: 'file', path: keyPath, passphrase: { env: 'FETCH_TEST_PASS' } },
      genesis,
      bundle: { url: `http://127.0.0.1:${port}/bundles`, refreshSeconds: 3600 },
      requestKeys: [
        {
          keyId: COORDINATOR_KEY_ID,
          publicKey: Buffer.from(ed25519RawPublicKey(coordinatorKey)).toString('hex'),
        },
      ],
    });
    let now = NOW;
    const logs: string[] = [];
    const c = await startCosigner(cfg, { now: () => now, log: (l) => logs.push(l) });
    try {
      expect(c.trust.current()).toMatchObject({ sequence: 1 });
      // Coordinator serves the chain with one policy byte changed: refused, bundle 1 kept.
      const tampered = JSON.parse(JSON.stringify([b1]));
      tampered[0].config.policy.rules[1].approve.quorum = 1;
      expect(await c.trust.accept(tampered)).toMatchObject({ ok: false, code: 'BUNDLE_TAMPERED' });
      expect(c.trust.current()).toMatchObject({ sequence: 1 });
      // Bundle 2 is signed but inside its 24 h delay: not effective yet, so still bundle 1.
      expect(await c.trust.accept([b1, b2])).toMatchObject({ ok: true, value: { sequence: 1 } });
      now += 2 * 86_400_000;
      expect(await c.trust.accept([b1, b2])).toMatchObject({ ok: true, value: { sequence: 2 } });
      // Rollback to the older chain is refused.
      expect(await c.trust.accept([b1])).toMatchObject({ ok: false, code: 'BUNDLE_ROLLBACK' });
      expect(c.trust.current()).toMatchObject({ sequence: 2 });
    } finally {
      await c.close();
    }
  }, 120_000);
});
