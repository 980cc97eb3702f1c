export {
  type Action,
  actionDigest,
  CANCEL_DOMAIN_TAG,
  cancelDigest,
  VOTE_DOMAIN_TAG,
  type Vote,
  voteDigest,
} from './actions.ts';
export { APPROVAL_DOMAIN_TAG, approvalDigest, type Decision } from './digest.ts';
export {
  type Approval,
  approvalSchema,
  type Ed25519Signature,
  type IntentSignature,
  intentSignatureSchema,
  type WebAuthnSignature,
} from './signature.ts';
export {
  type ApprovalFailureCode,
  type ApprovalsResult,
  type RequesterFailureCode,
  verifyApprovals,
  verifyRequesterSignature,
} from './verify.ts';
export { ACTION_ROLE, type ActionFailureCode, verifyActionSignature } from './verify-action.ts';
export {
  type SignatureFailureCode,
  type VerifiedSignature,
  verifySignatureOver,
} from './verify-signature.ts';
