import { parseEvmWallet } from '../core/chains/evm/index.ts';
import { CustosError } from '../core/errors/base.ts';
import type { TrustBundle, WalletRecord } from '../core/governance/types.ts';
import { PrincipalSet, type PrincipalSetOptions } from '../core/identity/principal-set.ts';
import { loadPolicy, type Policy } from '../core/policy/load.ts';
import type { AddressBookEntry } from '../core/policy/types.ts';
import type { GovernanceService } from '../store/governance/service.ts';
import type { WalletRoute } from './workflow/ports.ts';

/**
 * The coordinator's view of the configuration in force: the latest admin-signed trust bundle,
 * read through the governance service (which re-verifies the whole chain from the pinned genesis
 * on every read). Principals, policy, address book and wallets all come from it — the same
 * document every co-signer verifies — so the coordinator's pre-check and the co-signers' checks
 * agree. Until a bundle exists nothing verifies: no principal, no policy (fail closed).
 */
export interface TrustSnapshot {
  bundle: TrustBundle | null;
  chain: TrustBundle[];
  principals: PrincipalSet;
  policy?: Policy;
  addressBook: AddressBookEntry[];
  wallets: WalletRecord[];
}

export class TrustView {
  private snap: TrustSnapshot;
  private lastError: string | undefined;
  private routeIndex: { wallets: WalletRecord[]; byId: Map<string, WalletRoute> } | undefined;

  constructor(
    private readonly gov: GovernanceService,
    private readonly options: PrincipalSetOptions = {},
  ) {
    this.snap = { bundle: null, chain: [], principals: new PrincipalSet([]), addressBook: [], wallets: [] };
  }

  get current(): TrustSnapshot {
    return this.snap;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Re-reads the chain; keeps the previous snapshot when the stored chain stops verifying. */
  async refresh(): Promise<TrustSnapshot> {
    let chain: TrustBundle[];
    try {
      chain = await this.gov.chain();
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      // A chain that no longer verifies means tampering: stop trusting anything.
      this.snap = { bundle: null, chain: [], principals: new PrincipalSet([]), addressBook: [], wallets: [] };
      return this.snap;
    }
    const bundle = chain[chain.length - 1] ?? null;
    // Same head (its proposal digest covers the whole document): keep the parsed policy and
    // principals instead of rebuilding them on every refresh. The chain itself was re-verified.
    const head = this.snap.bundle;
    if (bundle && head && bundle.version === head.version && bundle.proposalDigest === head.proposalDigest) {
      this.snap = { ...this.snap, chain };
      return this.snap;
    }
    if (!bundle) {
      this.snap = { bundle: null, chain, principals: new PrincipalSet([]), addressBook: [], wallets: [] };
      return this.snap;
    }
    const principals = new PrincipalSet(bundle.config.principals, this.options);
    const policy = loadPolicy(JSON.stringify(bundle.config.policy), `trust-bundle-v${bundle.version}:policy`);
    this.snap = {
      bundle,
      chain,
      principals,
      policy,
      addressBook: bundle.config.addressBook,
      wallets: bundle.config.wallets,
    };
    this.lastError = undefined;
    return this.snap;
  }

  policy(): Policy {
    const p = this.snap.policy;
    if (!p) throw new CustosError('POLICY_UNAVAILABLE', 'no trust bundle in force: no policy (fail closed)');
    return p;
  }

  /** Workflow routes: which co-signers sign for each wallet and how many signatures it needs. */
  routes(routing: Record<string, string[]>, allCosigners: string[]): WalletRoute[] {
    return this.snap.wallets.map((w) => ({
      id: w.id,
      chain: w.chain,
      cosigners: routing[w.id] ?? allCosigners,
      threshold: thresholdOf(w),
    }));
  }

  /** One wallet's route, from an index rebuilt only when the wallets in force change. */
  route(id: string, routing: Record<string, string[]>, allCosigners: string[]): WalletRoute | undefined {
    if (this.routeIndex?.wallets !== this.snap.wallets) {
      const routes = this.routes(routing, allCosigners);
      this.routeIndex = { wallets: this.snap.wallets, byId: new Map(routes.map((r) => [r.id, r])) };
    }
    return this.routeIndex.byId.get(id);
  }
}

function thresholdOf(w: WalletRecord): number {
  if (w.type === 'safe' || w.type === 'evm-hot') {
    const e = parseEvmWallet(w);
    return e.type === 'safe' ? e.config.threshold : 1;
  }
  const m = (w.config as { threshold?: unknown }).threshold;
  return typeof m === 'number' && Number.isInteger(m) && m > 0 ? m : 1;
}
