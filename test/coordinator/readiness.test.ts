import { afterAll, describe, expect, it } from 'vitest';
import { pgliteBackend } from '../helpers/db.ts';
import { CosignerDouble, fixture } from './helpers/fixture.ts';

/** TEST DOUBLE: a co-signer whose status answers (up) and counts how often it was asked. */
class CountingCosigner extends CosignerDouble {
  statusCalls = 0;
  override async status() {
    this.statusCalls++;
    await new Promise((r) => setTimeout(r, 20));
    return {
      ok: true as const,
      cosigner: this.id,
      keyBackend: 'memory' as const,
      publicKey: '00',
      bundle: null,
      ledgerEntries: 0,
      refusals: 0,
      unauthenticatedRefusals: 0,
    };
  }
}

describe('GET /readyz', () => {
  const backend = pgliteBackend();
  afterAll(() => backend.cleanup());

  it("asks each co-signer at most once per second, however many callers (unauthenticated /readyz cannot multiply the co-signers' work)", async () => {
    const cosigners = [new CountingCosigner('cosigner-a'), new CountingCosigner('cosigner-b')];
    const { c } = await fixture(await backend.open(), { cosigners });
    const burst = await Promise.all(
      Array.from({ length: 25 }, () => c.app.inject({ method: 'GET', url: '/readyz' })),
    );
    for (const r of burst) {
      expect(r.statusCode).toBe(200);
      expect(r.json().checks).toMatchObject({
        database: true,
        'cosigner:cosigner-a': true,
        'cosigner:cosigner-b': true,
      });
    }
    await c.app.inject({ method: 'GET', url: '/readyz' });
    expect(cosigners.map((x) => x.statusCalls)).toEqual([1, 1]);
    // After the second is over, the next caller asks again.
    await new Promise((r) => setTimeout(r, 1100));
    await c.app.inject({ method: 'GET', url: '/readyz' });
    expect(cosigners.map((x) => x.statusCalls)).toEqual([2, 2]);
    await c.close();
  });
});
