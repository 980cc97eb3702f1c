import type { Approval, IntentSignature } from '../../core/approval/index.ts';
import {
  verifyActionSignature,
  verifyApprovals,
  verifyRequesterSignature,
} from '../../core/approval/index.ts';
import type { PrincipalSet } from '../../core/identity/principal-set.ts';
import { type Intent, intentDigest } from '../../core/intent/index.ts';
import type {
  ApprovalCheck,
  ApprovalRequirement,
  ApprovalsPort,
  SignatureVerifier,
} from '../workflow/ports.ts';

/**
 * The signature counter of an assertion the verifier just accepted: authenticatorData bytes 33–36,
 * big-endian (WebAuthn L3 §6.1). Its signature was checked, so these bytes are the authenticator's.
 */
function assertionSignCount(authenticatorData: string): number {
  return Buffer.from(authenticatorData, 'base64url').readUInt32BE(33);
}

/**
 * The coordinator's use of src/core/approval. The coordinator checks signatures on arrival to
 * refuse junk early and to attribute actions; co-signers check them all again (I1), so nothing
 * here is trusted downstream.
 */
export function approvalAdapters(principals: () => PrincipalSet): {
  verifier: SignatureVerifier;
  approvals: ApprovalsPort;
} {
  const verifier: SignatureVerifier = {
    requester(intent, signature, now) {
      const r = verifyRequesterSignature(
        intent,
        signature as IntentSignature,
        principals(),
        now.toISOString(),
      );
      if (!r.ok) return r;
      const { principal, credentialId, signCount } = r.value;
      return {
        ok: true,
        value: { principal, credentialId, ...(signCount !== undefined ? { signCount } : {}) },
      };
    },
    cancel(intent, signature, now) {
      void now;
      // The requester, an approver or an admin may stop a withdrawal before it is signed.
      const r = verifyActionSignature(
        { kind: 'cancel', intentDigest: intentDigest(intent) },
        signature as IntentSignature,
        principals(),
        ['requester', 'approver', 'admin'],
      );
      return r.ok
        ? { ok: true, value: { principal: r.value.principal, credentialId: r.value.credentialId } }
        : r;
    },
  };
  const approvals: ApprovalsPort = {
    verifyOne(intent: Intent, approval: unknown, requirement: ApprovalRequirement, now: Date) {
      const a = approval as Approval;
      const r: ApprovalCheck = verifyApprovals(
        intent,
        [a],
        principals(),
        { ...requirement, quorum: 0 },
        now.toISOString(),
      );
      // A valid rejection comes back as REJECTED: that is a verified decision, not an error.
      if (!r.ok && r.code !== 'REJECTED') return r;
      const found = principals().credential(a.credentialId);
      return {
        ok: true,
        approvers: [],
        principal: found?.principal.id ?? a.principal,
        credentialId: a.credentialId,
        decision: a.decision,
        ...(a.type === 'webauthn' ? { signCount: assertionSignCount(a.authenticatorData) } : {}),
      };
    },
    verifyAll(intent, list, requirement, now) {
      return verifyApprovals(intent, list as Approval[], principals(), requirement, now.toISOString());
    },
  };
  return { verifier, approvals };
}
