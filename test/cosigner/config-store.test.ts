import { describe, expect, it } from 'vitest';
import { ed25519RawPublicKey } from '../../src/core/auth/index.ts';
import { parseCosignerConfig } from '../../src/cosigner/config.ts';
import { COORDINATOR_KEY_ID, coordinatorKey, genesis } from './fixture.ts';

/** The co-signer's PostgreSQL store settings: the idle timeout of its pooled connections. */
const base = (postgres: Record<string, unknown>) => ({
  id: 'cosigner-a',
  listen: { host: '127.0.0.1', port: 0 },
  store: { postgres: { url: { env: 'COSIGNER_DB_URL' }, schema: 'cosigner_a', ...postgres } },
  key: { backend: 'file', path: 'key.json', passphrase: { env: 'COSIGNER_PASS' } },
  genesis,
  bundle: { url: 'http://127.0.0.1:8080/v1/trust/bundles', refreshSeconds: 60 },
  requestKeys: [
    {
      keyId: COORDINATOR_KEY_ID,
      publicKey: Buffer.from(ed25519RawPublicKey(coordinatorKey)).toString('hex'),
    },
  ],
});

describe('co-signer store.postgres.idleTimeoutMs', () => {
  it('is optional and accepted in range', () => {
    expect(parseCosignerConfig(base({})).store.postgres?.idleTimeoutMs).toBeUndefined();
    expect(parseCosignerConfig(base({ idleTimeoutMs: 120_000 })).store.postgres?.idleTimeoutMs).toBe(120_000);
  });

  it('is refused outside its range or as a string, naming the key', () => {
    for (const v of [0, 999, 1500.5, 86_400_001, '60000']) {
      expect(() => parseCosignerConfig(base({ idleTimeoutMs: v }))).toThrow(
        expect.objectContaining({ code: 'COSIGNER_CONFIG_INVALID', field: 'store.postgres.idleTimeoutMs' }),
      );
    }
  });
});
