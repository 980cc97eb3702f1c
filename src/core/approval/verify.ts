import { bytesToHex } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from '../errors/base.ts';
import type { PrincipalSet } from '../identity/principal-set.ts';
import { type Intent, intentDigest } from '../intent/index.ts';
import type { ApprovalRequirement } from '../policy/types.ts';
import { approvalDigest } from './digest.ts';
import { type Approval, approvalSchema, type IntentSignature, intentSignatureSchema } from './signature.ts';
import { type SignatureFailureCode, verifySignatureOver } from './verify-signature.ts';

export type RequesterFailureCode =
  | SignatureFailureCode
  | 'MALFORMED_SIGNATURE'
  | 'REQUESTER_MISMATCH'
  | 'NOT_REQUESTER'
  | 'REVOKED_PRINCIPAL'
  | 'REVOKED_CREDENTIAL'
  | 'INTENT_EXPIRED'
  | 'INVALID_TIME';

/**
 * Verifies the requester's signature on an intent (the `submit` action: the signed message is the
 * 32-byte intent digest itself). Refused unless the signer is the intent's `requestedBy`, an
 * active principal with the `requester` role, signing with an active credential, before the
 * intent expires. `now` is an RFC 3339 instant from the caller's clock.
 */
export function verifyRequesterSignature(
  intent: Intent,
  sig: IntentSignature,
  principals: PrincipalSet,
  now: string,
): Result<{ principal: string; credentialId: string; signCount?: number }, RequesterFailureCode> {
  const parsed = intentSignatureSchema.safeParse(sig);
  if (!parsed.success) return fail('MALFORMED_SIGNATURE', parsed.error.issues[0]!.message);
  const s = parsed.data;
  // The signer must be the requester named inside the signed intent: a valid signature by
  // someone else must not be able to submit in another principal's name.
  if (s.principal !== intent.requestedBy) {
    return fail('REQUESTER_MISMATCH', 'signature is not by the intent requester', {
      requestedBy: intent.requestedBy,
      principal: s.principal,
    });
  }
  const nowMs = Date.parse(now);
  if (!Number.isFinite(nowMs)) return fail('INVALID_TIME', 'now is not a timestamp');
  if (nowMs >= Date.parse(intent.expiresAt)) return fail('INTENT_EXPIRED', 'intent has expired');
  const v = verifySignatureOver(intentDigest(intent), s, principals);
  if (!v.ok) return v;
  const { principal, credential, signCount } = v.value;
  if (principal.status !== 'active') return fail('REVOKED_PRINCIPAL', 'requester is revoked');
  if (credential.status !== 'active') return fail('REVOKED_CREDENTIAL', 'requester credential is revoked');
  if (!principal.roles.includes('requester'))
    return fail('NOT_REQUESTER', 'principal lacks the requester role');
  return ok({ principal: principal.id, credentialId: credential.id, signCount });
}

export type ApprovalFailureCode =
  | SignatureFailureCode
  | 'MALFORMED_APPROVAL'
  | 'INVALID_REQUIREMENT'
  | 'WRONG_INTENT'
  | 'NOT_APPROVER'
  | 'SELF_APPROVAL'
  | 'REVOKED_PRINCIPAL'
  | 'REVOKED_CREDENTIAL'
  | 'APPROVAL_EXPIRED'
  | 'REJECTED'
  | 'QUORUM_NOT_MET';

export type ApprovalsResult =
  | { ok: true; approvers: string[] }
  | { ok: false; code: ApprovalFailureCode; message: string; details?: Record<string, unknown> };

/**
 * Verifies a set of approvals for one intent against the policy's approval requirement (I1, I2).
 *
 * Every approval in the set must be valid; one bad entry refuses the whole set (fail closed —
 * the coordinator forwards only what it verified, so a bad entry means something is wrong):
 *  - its claimed intent digest equals the recomputed one (WRONG_INTENT), and its signature is over
 *    approvalDigest(recomputed intent digest, decision) — so an approval for another intent, chain,
 *    wallet, nonce, or any changed byte of this intent, fails (BAD_SIGNATURE / WEBAUTHN_CHALLENGE);
 *  - the signer is active, the credential active, the principal an `approver` in one of
 *    `requirement.from`; not the requester when `excludeRequester`;
 *  - approvals expire: none counts after intent.createdAt + expiresAfterMs, nor once the intent
 *    expired. An approval carries no signed time of its own, so its age is bounded by the signed
 *    creation time of the intent — conservative: it can only be younger than that;
 *  - a valid `reject` from any eligible approver ends the intent (REJECTED).
 * Approvers are counted per principal, never per credential: one person with two passkeys counts
 * once whatever `distinct` says (I1 "distinct approvers"). Returns the distinct approver ids.
 */
export function verifyApprovals(
  intent: Intent,
  approvals: Approval[],
  principals: PrincipalSet,
  requirement: ApprovalRequirement,
  now: string,
): ApprovalsResult {
  // Fail closed on a malformed rule: a NaN expiry or quorum would otherwise silently never bite.
  if (
    !Number.isInteger(requirement.quorum) ||
    requirement.quorum < 0 ||
    !Array.isArray(requirement.from) ||
    !requirement.from.every((g) => typeof g === 'string') ||
    (requirement.expiresAfterMs !== undefined &&
      (!Number.isSafeInteger(requirement.expiresAfterMs) || requirement.expiresAfterMs < 0))
  ) {
    return fail('INVALID_REQUIREMENT', 'approval requirement is malformed');
  }
  const nowMs = Date.parse(now);
  if (!Number.isFinite(nowMs)) return fail('INVALID_REQUIREMENT', 'now is not a timestamp');
  const digest = intentDigest(intent);
  const digestHex = bytesToHex(digest);
  const expiredAt = Math.min(
    Date.parse(intent.expiresAt),
    requirement.expiresAfterMs === undefined
      ? Number.POSITIVE_INFINITY
      : Date.parse(intent.createdAt) + requirement.expiresAfterMs,
  );
  const digests: Partial<Record<'approve' | 'reject', Uint8Array>> = {};
  const digestFor = (decision: 'approve' | 'reject') =>
    (digests[decision] ??= approvalDigest(digest, decision));
  const approvers = new Set<string>();
  for (let i = 0; i < approvals.length; i++) {
    const parsed = approvalSchema.safeParse(approvals[i]);
    if (!parsed.success) {
      return fail('MALFORMED_APPROVAL', parsed.error.issues[0]!.message, { index: i });
    }
    const a = parsed.data;
    if (a.intentDigest !== digestHex) {
      return fail('WRONG_INTENT', 'approval is for another intent', {
        index: i,
        intentDigest: a.intentDigest,
      });
    }
    const v = verifySignatureOver(digestFor(a.decision), a, principals);
    if (!v.ok) return { ...v, details: { ...v.details, index: i } };
    const { principal, credential } = v.value;
    if (principal.status !== 'active') return fail('REVOKED_PRINCIPAL', 'approver is revoked', { index: i });
    if (credential.status !== 'active') {
      return fail('REVOKED_CREDENTIAL', 'approver credential is revoked', {
        index: i,
        credentialId: credential.id,
      });
    }
    if (
      !principal.roles.includes('approver') ||
      !principal.groups.some((g) => requirement.from.includes(g))
    ) {
      return fail('NOT_APPROVER', 'signer is not an approver in an allowed group', {
        index: i,
        principal: principal.id,
      });
    }
    if (requirement.excludeRequester && principal.id === intent.requestedBy) {
      return fail('SELF_APPROVAL', 'the requester cannot approve their own intent', { index: i });
    }
    if (nowMs >= expiredAt) return fail('APPROVAL_EXPIRED', 'approval has expired', { index: i });
    if (a.decision === 'reject') {
      return fail('REJECTED', 'an approver rejected the intent', { index: i, principal: principal.id });
    }
    approvers.add(principal.id);
  }
  if (approvers.size < requirement.quorum) {
    return fail('QUORUM_NOT_MET', `${approvers.size} of ${requirement.quorum} required approvals`, {
      approvers: [...approvers],
    });
  }
  return { ok: true, approvers: [...approvers] };
}
