import type { ScreeningStatus } from '../screening/types.ts';

/**
 * Shapes shared by the policy engine, the coordinator and every co-signer. Amounts are integer
 * strings in base units; instants are RFC 3339 UTC strings; nothing here reads a clock.
 */

/** What an `approve` action (or a limit's `onExceed: approve`) requires before signing. */
export interface ApprovalRequirement {
  quorum: number;
  /** approver group names */
  from: string[];
  /** each approval must come from a different principal */
  distinct: boolean;
  /** the requester's own approval never counts (four-eyes) */
  excludeRequester: boolean;
  /** approvals older than this are void */
  expiresAfterMs?: number;
}

/** A machine-readable observation made while evaluating (look-alike, screening hit, bad input, …). */
export interface Finding {
  /** stable code, e.g. LOOKALIKE_DESTINATION, SCREENING_HIT, UNKNOWN_ASSET, BALANCE_UNKNOWN */
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** One rolling-window or %-of-balance limit that applied to the intent. */
export interface LimitUsage {
  limit: string;
  kind: 'sum' | 'count' | 'percentOfBalance';
  /** e.g. '24h'; for percentOfBalance: 'single' */
  window: string;
  /** base units (sum), a count, or basis points of balance (percentOfBalance) — as decimal strings */
  used: string;
  max: string;
  wouldBe: string;
  exceeded: boolean;
  /** the grouping key the usage was computed for, e.g. { wallet: 'hot-1', asset: 'eip155:1/slip44:60' } */
  key: Record<string, string>;
}

export interface Decision {
  decision: 'block' | 'allow' | 'approve';
  /** name of the rule that matched, or null (default deny / evaluation refused) */
  rule: string | null;
  quorum?: ApprovalRequirement;
  /** time during which any approver can cancel before signing */
  delayMs: number;
  limits: LimitUsage[];
  findings: Finding[];
  reasons: string[];
  policyDigest: string;
}

/** A withdrawal that was signed (the velocity ledger a coordinator or co-signer keeps). */
export interface LedgerEntry {
  intentId: string;
  wallet: string;
  chain: string;
  asset: string;
  destination: string;
  /** base units */
  amount: string;
  requestedBy: string;
  /** RFC 3339 */
  at: string;
}

export type AddressBookStatus = 'pending' | 'active' | 'revoked';

export interface AddressBookEntry {
  chain: string;
  address: string;
  label: string;
  category: string;
  owner?: string;
  status: AddressBookStatus;
  addedAt: string;
  activeFrom: string;
  revokedAt?: string;
}

/** Decimals and ticker per CAIP-19 asset id. */
export interface AssetInfo {
  symbol: string;
  decimals: number;
}
export type AssetRegistry = Record<string /* CAIP-19 */, AssetInfo>;

export interface Requester {
  id: string;
  roles: string[];
}

export type { ScreeningStatus };
