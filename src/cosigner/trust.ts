import { z } from 'zod';
import { CustosError, fail, InvalidInputError, ok, type Result } from '../core/errors/base.ts';
import { bundleDigest, verifyBundleChain } from '../core/governance/index.ts';
import type { BundleConfig, Genesis } from '../core/governance/types.ts';
import type { Db } from '../store/db.ts';
import type { BundleVerifier, TrustState } from './checks.ts';
import { prepareTrust } from './real-checks.ts';

/**
 * The co-signer's copy of the admin-signed trust bundle (I4, T8). It trusts only its pinned
 * genesis admin keys: every bundle chain — fetched from the coordinator, read from a file, or
 * loaded from its own database at start — is verified locally from genesis. The database is
 * storage, not a source of trust: a row forged there fails verification and the co-signer
 * refuses to sign until it gets a chain that verifies.
 */
export interface TrustStore {
  current(): TrustState | undefined;
  /** Verifies and adopts a bundle chain; refuses a rollback to an older sequence. */
  accept(chain: unknown): Promise<Result<TrustState>>;
  /** Re-verifies what is stored in the database (at start). */
  reload(): Promise<Result<TrustState>>;
}

export function trustStore(db: Db, genesis: unknown, verify: BundleVerifier, now: () => number): TrustStore {
  let current: TrustState | undefined;
  const check = (chain: unknown): Result<TrustState> => {
    let v: Result<TrustState>;
    try {
      v = verify(genesis, chain, now());
    } catch (e) {
      return fail(
        e instanceof CustosError ? e.code : 'BUNDLE_INVALID',
        'trust bundle chain does not verify',
        {
          error: e instanceof Error ? e.message.slice(0, 200) : String(e),
        },
      );
    }
    return v;
  };
  return {
    current: () => current,
    async reload() {
      const { rows } = await db.query<{ chain: unknown }>(
        'SELECT chain FROM cosigner_bundles ORDER BY sequence DESC LIMIT 1',
      );
      if (!rows[0]) return fail('NO_TRUST_BUNDLE', 'no trust bundle stored yet');
      const v = check(rows[0].chain);
      current = v.ok ? v.value : undefined;
      return v;
    },
    async accept(chain) {
      const v = check(chain);
      if (!v.ok) return v;
      // Rollback: an attacker replaying an older, validly signed bundle (e.g. one where a since
      // revoked approver or address was still active) is refused.
      if (current && v.value.sequence < current.sequence)
        return fail('BUNDLE_ROLLBACK', 'bundle is older than the one already verified', {
          have: current.sequence,
          got: v.value.sequence,
        });
      if (current && v.value.sequence === current.sequence) {
        if (v.value.hash !== current.hash)
          return fail('BUNDLE_FORK', 'two different bundles with one sequence number', {
            sequence: current.sequence,
          });
        return ok(current);
      }
      await db.query(
        `INSERT INTO cosigner_bundles (sequence, hash, chain) VALUES ($1, $2, $3)
         ON CONFLICT (sequence) DO NOTHING`,
        [v.value.sequence, v.value.hash, JSON.stringify(chain)],
      );
      current = v.value;
      return ok(v.value);
    },
  };
}

const genesisSchema = z
  .object({
    adminKeys: z
      .array(z.string().regex(/^[0-9a-f]{64}$/))
      .min(1)
      .max(64),
    quorum: z.number().int().min(1).max(64),
    delayFloorMs: z.number().int().min(0).optional(),
  })
  .strict();

export function parseGenesis(input: unknown): Genesis {
  const r = genesisSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InvalidInputError('INVALID_GENESIS', `genesis.${issue.path.join('.')}`, issue.message);
  }
  return r.data;
}

/**
 * The governance module's `verifyBundleChain` from the pinned genesis, on the prefix of the chain
 * already effective now (a bundle signed but still inside its delay does not apply yet: that
 * delay is when admins notice and cancel a hostile change), then the indexes the checks need.
 */
export function governanceBundleVerifier(
  prepare: (config: BundleConfig) => unknown = (c) => prepareTrust(c),
): BundleVerifier {
  return (genesis, chain, nowMs) => {
    if (!Array.isArray(chain) || chain.length === 0)
      return fail('BUNDLE_MALFORMED', 'bundle chain must be a list');
    const effective: unknown[] = [];
    for (const b of chain) {
      const at = (b as { effectiveAt?: unknown })?.effectiveAt;
      if (typeof at !== 'string' || !(Date.parse(at) <= nowMs)) break;
      effective.push(b);
    }
    if (effective.length === 0)
      return fail('BUNDLE_NOT_EFFECTIVE', 'no bundle in the chain is effective yet');
    const v = verifyBundleChain(effective, parseGenesis(genesis));
    if (!v.ok) return v;
    const latest = v.value.latest;
    return ok({ sequence: latest.version, hash: bundleDigest(latest), content: prepare(latest.config) });
  };
}
