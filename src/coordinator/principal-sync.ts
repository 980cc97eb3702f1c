import { bundleDigest } from '../core/governance/digest.ts';
import type { TrustBundle } from '../core/governance/types.ts';
import { advisoryXactLock, type Db, type Queryable } from '../store/db.ts';
import type { GovernanceService } from '../store/governance/service.ts';
import { GOVERNANCE_LOCK } from '../store/governance/sql.ts';
import type { PrincipalStore } from '../store/principals.ts';
import type { AuditAppender } from '../store/workflow/audit-port.ts';

export interface PrincipalSyncDeps {
  db: Db;
  governance: GovernanceService;
  principals: PrincipalStore;
  audit: AuditAppender;
}

/**
 * Copies the principals and credentials of the trust bundle in force into the principals tables,
 * where the coordinator keeps the WebAuthn signature counters (`PrincipalStore.recordCounter`).
 *
 * Direction of trust: the bundle decides WHO may act — every signature is verified against the
 * bundle's PrincipalSet, never against these rows — and a row only holds the monotonic counter of
 * a credential the bundle already accepted. So a row forged by someone with database access (an
 * unknown credential, or an extra key for a known principal) lets nobody in; it is never read
 * until the bundle's verifier has accepted that credential id.
 *
 * Runs under the governance lock and reads the latest verified bundle inside its transaction, so
 * a coordinator that lags behind can never write an older bundle over a newer one, and two
 * coordinators starting on one database do not race to insert the same rows. Idempotent: a
 * restart re-applies the same bundle and changes nothing (no audit entry either); counters are
 * never lowered. When rows change, one `principals.synced` audit entry commits with them.
 */
export async function syncPrincipalsFromBundle(
  d: PrincipalSyncDeps,
): Promise<{ version: number; changes: number } | null> {
  return d.db.transaction(async (tx: Queryable) => {
    await advisoryXactLock(tx, GOVERNANCE_LOCK);
    const bundle: TrustBundle | null = await d.governance.current(tx);
    if (!bundle) return null;
    const subject = `trust-bundle:v${bundle.version}`;
    const changes = await d.principals.syncFromBundle(tx, bundle.config.principals, subject);
    if (changes > 0) {
      await d.audit.appendInTx(tx, [
        {
          kind: 'principals.synced',
          actor: 'coordinator',
          subject,
          body: { version: bundle.version, bundleDigest: bundleDigest(bundle), changes },
        },
      ]);
    }
    return { version: bundle.version, changes };
  });
}
