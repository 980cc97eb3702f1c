import type { SignatureResult, TxPayload } from '../../core/auth/index.ts';
import type { Intent } from '../../core/intent/index.ts';
import type { Queryable } from '../../store/db.ts';

/**
 * What the workflow needs from the modules around it. Each is optional at run time: a step
 * whose port is missing fails the intent closed with a typed code (POLICY_UNAVAILABLE,
 * CHAIN_UNAVAILABLE, …) — it is never skipped or treated as passed.
 */

/** The approval requirement a policy decision imposes (mirrors src/core/policy ApprovalRequirement). */
export interface ApprovalRequirement {
  quorum: number;
  from: string[];
  distinct: boolean;
  excludeRequester: boolean;
  expiresAfterMs?: number;
}

/** The policy decision as the workflow stores it (mirrors src/core/policy Decision). */
export interface WorkflowDecision {
  decision: 'block' | 'allow' | 'approve';
  rule: string | null;
  quorum?: ApprovalRequirement;
  delayMs: number;
  reasons: string[];
  [k: string]: unknown;
}

export interface PolicyPort {
  evaluate(intent: Intent, now: Date): Promise<WorkflowDecision>;
  /** Many at once, facts read once for the batch (optional; else `evaluate` per intent). */
  evaluateMany?(intents: readonly Intent[], now: Date): Promise<WorkflowDecision[]>;
}

export type ApprovalCheck =
  | { ok: true; approvers: string[] }
  | { ok: false; code: string; message: string; details?: Record<string, unknown> };

export interface ApprovalsPort {
  /** Verifies one approval on arrival (signature, role, group, not self). */
  verifyOne(
    intent: Intent,
    approval: unknown,
    requirement: ApprovalRequirement,
    now: Date,
  ): ApprovalCheck & {
    principal?: string;
    credentialId?: string;
    decision?: 'approve' | 'reject';
    /** WebAuthn authenticator signature counter of the verified assertion (absent for Ed25519). */
    signCount?: number;
  };
  /** Verifies the whole set against the quorum. */
  verifyAll(intent: Intent, approvals: unknown[], requirement: ApprovalRequirement, now: Date): ApprovalCheck;
}

export interface ChainPort {
  /**
   * Builds the unsigned transaction (nonce/UTXOs chosen here, once: the outbox freezes it). `tx` is
   * the engine's open transaction: an adapter that writes to the database (Bitcoin change index)
   * must use it — PGlite has one connection, so a query on the root handle would wait forever.
   */
  build(intent: Intent, tx?: Queryable): Promise<TxPayload>;
  /** Assembles the signed transaction from co-signer signatures. */
  finalize(
    intent: Intent,
    tx: TxPayload,
    signatures: SignatureResult[],
  ): Promise<{ raw: string; txHash: string }>;
  /** Sends the raw transaction; sending the same bytes twice must be harmless. */
  broadcast(raw: string): Promise<void>;
  status(txHash: string): Promise<'pending' | 'confirmed' | 'failed'>;
  /** Many at once (one JSON-RPC batch); optional, else `status` is called per hash. */
  statusMany?(txHashes: readonly string[]): Promise<Map<string, 'pending' | 'confirmed' | 'failed'>>;
  /** Human/machine-readable decoding of the unsigned transaction for the API and console. */
  decode?(tx: TxPayload): unknown;
}

export type VerifyResult =
  | { ok: true; value: { principal: string; credentialId: string; signCount?: number } }
  | { ok: false; code: string; message: string; details?: Record<string, unknown> };

/** Signature checks for state-changing API calls (src/core/approval behind an adapter). */
/**
 * Where the coordinator keeps WebAuthn signature counters (PrincipalStore). The pure verifiers do
 * not check counters (co-signers re-verify old assertions), so the coordinator does on arrival.
 */
export interface CounterStore {
  recordCounter(
    credentialId: string,
    signCount: number,
    tx?: Queryable,
  ): Promise<{ ok: true } | { ok: false; code: string; message: string }>;
}

export interface SignatureVerifier {
  /** The requester's signature over the intent digest (the submit action). */
  requester(intent: Intent, signature: unknown, now: Date): VerifyResult;
  /** A signature over the cancel action digest of this intent. */
  cancel(intent: Intent, signature: unknown, now: Date): VerifyResult;
}

export interface WalletRoute {
  id: string;
  chain: string;
  /** Co-signer ids holding this wallet's keys. */
  cosigners: string[];
  /** Signatures needed (Safe threshold / multisig m; 1 for a hot wallet). */
  threshold: number;
}

export interface WorkflowMetrics {
  decisionSeconds(seconds: number): void;
  cosignerSeconds(cosigner: string, seconds: number): void;
  cosignerRefusal(cosigner: string, code: string): void;
}
