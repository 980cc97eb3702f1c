import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { InvalidInputError } from '../errors/base.ts';
import { approvalDigest } from './digest.ts';

/**
 * Action digests: what a principal signs for each state-changing action.
 *
 * Sessions (cookies, bearer tokens) only read. Every action that changes state carries a fresh
 * signature over its own digest, each under its own domain tag, so a stolen session can do
 * nothing and a signature made for one action is never valid for another:
 *
 *   submit  = intentDigest                       ("CUSTOS-INTENT-V1\n" || JCS(intent), the requester's signature)
 *   approve = approvalDigest(intentDigest, "approve")   ("CUSTOS-APPROVAL-V1\n" …)
 *   reject  = approvalDigest(intentDigest, "reject")
 *   cancel  = SHA-256("CUSTOS-CANCEL-V1\n"  || intentDigest)
 *   propose = proposalDigest                     ("CUSTOS-PROPOSAL-V1\n" || JCS(proposal))
 *   vote    = SHA-256("CUSTOS-VOTE-V1\n" || proposalDigest || utf8(vote)), vote ∈ {"approve","cancel"}
 *
 * A proposer signs the `vote approve` digest of its own proposal (proposing is the first vote),
 * so `propose` needs no separate tag; the proposal digest itself is what the vote binds.
 */
export const CANCEL_DOMAIN_TAG = 'CUSTOS-CANCEL-V1\n';
export const VOTE_DOMAIN_TAG = 'CUSTOS-VOTE-V1\n';
const CANCEL = utf8ToBytes(CANCEL_DOMAIN_TAG);
const VOTE = utf8ToBytes(VOTE_DOMAIN_TAG);

export type Vote = 'approve' | 'cancel';

export type Action =
  | { kind: 'submit'; intentDigest: Uint8Array }
  | { kind: 'approve'; intentDigest: Uint8Array }
  | { kind: 'reject'; intentDigest: Uint8Array }
  | { kind: 'cancel'; intentDigest: Uint8Array }
  | { kind: 'propose'; proposalDigest: Uint8Array }
  | { kind: 'vote'; proposalDigest: Uint8Array; vote: Vote };

function need32(d: Uint8Array, field: string): Uint8Array {
  if (d.length !== 32) throw new InvalidInputError('INVALID_DIGEST', field, 'digest must be 32 bytes');
  return d;
}

export function cancelDigest(intentDigest: Uint8Array): Uint8Array {
  return sha256(concatBytes(CANCEL, need32(intentDigest, 'intentDigest')));
}

export function voteDigest(proposalDigest: Uint8Array, vote: Vote): Uint8Array {
  if (vote !== 'approve' && vote !== 'cancel') {
    throw new InvalidInputError('INVALID_VOTE', 'vote', 'vote must be approve or cancel');
  }
  return sha256(concatBytes(VOTE, need32(proposalDigest, 'proposalDigest'), utf8ToBytes(vote)));
}

export function actionDigest(action: Action): Uint8Array {
  switch (action.kind) {
    case 'submit':
      return need32(action.intentDigest, 'intentDigest');
    case 'approve':
    case 'reject':
      return approvalDigest(action.intentDigest, action.kind);
    case 'cancel':
      return cancelDigest(action.intentDigest);
    case 'propose':
      return voteDigest(action.proposalDigest, 'approve');
    case 'vote':
      return voteDigest(action.proposalDigest, action.vote);
  }
}
