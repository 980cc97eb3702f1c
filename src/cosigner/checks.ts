import type { SignatureResult, TxPayload } from '../core/auth/cosigner-api.ts';
import type { Result } from '../core/errors/base.ts';
import type { Intent } from '../core/intent/index.ts';
import type { LedgerIndex } from '../core/policy/ledger.ts';
import type { ApprovalRequirement, LedgerEntry } from '../core/policy/types.ts';
import type { Secp256k1Signer } from '../keys/backend.ts';

/**
 * The verification steps the co-signer runs, behind small interfaces so the pipeline (pipeline.ts)
 * does not depend on how each area implements them. `real-checks.ts` wires the real functions from
 * src/core (approval, policy, governance, chains); a step whose module is not available yet fails
 * closed with a typed code there — it is never stubbed as passing.
 */

/** The admin-signed configuration this co-signer verified itself (I4). */
export interface TrustState {
  /** Bundle sequence number (monotonic). */
  sequence: number;
  /** Bundle hash (hex). */
  hash: string;
  /** The verified bundle content, as the governance module returns it (opaque to the pipeline). */
  content: unknown;
}

export interface PolicyOutcome {
  decision: 'block' | 'allow' | 'approve';
  rule: string | null;
  requirement?: ApprovalRequirement;
  delayMs: number;
  reasons: string[];
  policyDigest?: string;
}

/** What the chain verifier established about the unsigned transaction, and what to sign. */
export interface VerifiedTx {
  kind: TxPayload['kind'];
  /** Identity of the unsigned transaction (safeTxHash, EIP-1559 signing hash, unsigned txid). */
  txHash: string;
  /**
   * Resources the transaction consumes (I8): `evm:<chain>:<account>:<nonce>` for an EVM account
   * nonce (Safe nonce for a Safe), `btc:<txid>:<vout>` per spent outpoint.
   */
  spendKeys: string[];
  /** 32-byte digests this co-signer must sign, with the BIP 32 path of its key for each. */
  toSign: { digest: Uint8Array; path?: string; input?: number }[];
  /**
   * Chain-specific signing (PSBT: the Bitcoin module signs each input at its derivation path).
   * Called inside the ledger transaction, like the generic digest signing.
   */
  sign?(signer: Secp256k1Signer): Promise<SignatureResult>;
}

export interface ChainContext {
  /** Current time, RFC 3339 (the clock is passed in). */
  now: string;
  /**
   * Chain reads already made for THIS request, by key (e.g. one Safe state for every item of a
   * batch that spends from that Safe). Created per request and dropped with it: state is never
   * reused across requests, so every request sees the chain as it is now.
   */
  memo?: Map<string, Promise<unknown>>;
}

export interface CosignerChecks {
  /** Step 3: the requester's signature on the intent digest. */
  verifyRequester(
    intent: Intent,
    signature: unknown,
    trust: TrustState,
    now: string,
  ): Result<{ principal: string }>;
  /** Step 4: policy evaluation with the bundle's policy/address book and this co-signer's ledger. */
  evaluatePolicy(
    intent: Intent,
    trust: TrustState,
    ledger: readonly LedgerEntry[] | LedgerIndex,
    now: string,
  ): Result<PolicyOutcome>;
  /** Step 4b: approvals against the requirement. */
  verifyApprovals(
    intent: Intent,
    approvals: readonly unknown[],
    requirement: ApprovalRequirement,
    trust: TrustState,
    now: string,
  ): Result<{ approvers: string[] }>;
  /** Step 5: decode the unsigned transaction and check it does exactly what the intent says. */
  verifyTx(intent: Intent, tx: TxPayload, trust: TrustState, ctx: ChainContext): Promise<Result<VerifiedTx>>;
}

/**
 * Verifies a trust-bundle chain from the pinned genesis admin keys (governance module) and
 * returns the latest bundle already effective at `nowMs`.
 */
export type BundleVerifier = (genesis: unknown, chain: unknown, nowMs: number) => Result<TrustState>;
