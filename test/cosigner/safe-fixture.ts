import type { SafeWallet } from '../../src/core/chains/evm/index.ts';
import { viemChainReader } from '../../src/cosigner/evm-rpc.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { CHAIN } from '../evm/world.ts';
import { config, firstBundle } from '../governance/fixtures.ts';
import type { Backend } from '../helpers/db.ts';
import { admins, type Harness, harness, migrateCosigner, principals } from './fixture.ts';

/**
 * One co-signer per signer, each on its own fresh database, trusting bundle 1 over these Safes:
 * ETH to `destination` (the address book's one entry) needs two treasury approvals, anything else is blocked.
 * Each verifies with the real checks against `rpc` (anvil, or a proxy in front of it).
 */
export async function safeCosigners(o: {
  backend: Backend;
  signers: readonly Secp256k1Signer[];
  safes: readonly SafeWallet[];
  rpc: string;
  policyName: string;
  /** The address book's one (cold-storage) address. */
  destination: string;
  /** Allow ETH to it without approvals (the demo policy's small-amount tier) instead of a quorum of 2. */
  allowWithoutApprovals?: boolean;
}): Promise<Harness[]> {
  const bundle = () =>
    firstBundle(
      admins,
      config(admins, {
        policy: {
          version: 1,
          name: o.policyName,
          assets: { [`${CHAIN}/slip44:60`]: { symbol: 'ETH', decimals: 18 } },
          groups: { treasury: { members: ['alice', 'bob', 'carol'] } },
          rules: [
            {
              name: 'block-unknown',
              when: { destination: { known: false } },
              action: 'block',
              reason: 'book only',
            },
            o.allowWithoutApprovals
              ? { name: 'allow', when: { asset: ['ETH'] }, action: 'allow' }
              : {
                  name: 'approve',
                  when: { asset: ['ETH'] },
                  action: 'approve',
                  approve: { quorum: 2, from: ['treasury'] },
                },
          ],
        },
        principals: principals(),
        addressBook: [
          {
            chain: CHAIN,
            address: o.destination,
            label: 'cold',
            category: 'cold-storage',
            status: 'active',
            addedAt: '2026-01-01T00:00:00Z',
            activeFrom: '2026-01-02T00:00:00Z',
          },
        ],
        wallets: o.safes.map((s) => ({ id: s.id, chain: CHAIN, type: 'safe' as const, config: s.config })),
      }),
    );
  const out: Harness[] = [];
  for (const signer of o.signers) {
    const h = await harness(await migrateCosigner(await o.backend.open({ migrate: false })), {
      signer,
      bundle,
    });
    h.deps.checks = realChecks({ evm: viemChainReader({ [CHAIN]: o.rpc }), evmSignerAddress: h.address });
    out.push(h);
  }
  return out;
}
