import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { InvalidInputError } from '../errors/base.ts';

/**
 * Protocol constant. approvalDigest = SHA-256( "CUSTOS-APPROVAL-V1\n" || intentDigest (32 bytes)
 * || utf8(decision) ), decision ∈ {"approve", "reject"}.
 *
 * Binding the decision means a "reject" signature can never be replayed as an "approve"; binding
 * the intent digest (which covers chain, asset, wallet, destination, amount, id and expiry) means
 * an approval never counts for another intent, chain, wallet or nonce; the domain tag keeps the
 * bytes from ever being valid as an intent, cancel, proposal or vote digest.
 */
export const APPROVAL_DOMAIN_TAG = 'CUSTOS-APPROVAL-V1\n';
const TAG = utf8ToBytes(APPROVAL_DOMAIN_TAG);

export type Decision = 'approve' | 'reject';

export function approvalDigest(intentDigest: Uint8Array, decision: Decision): Uint8Array {
  if (intentDigest.length !== 32) {
    throw new InvalidInputError('INVALID_DIGEST', 'intentDigest', 'intent digest must be 32 bytes');
  }
  if (decision !== 'approve' && decision !== 'reject') {
    throw new InvalidInputError('INVALID_DECISION', 'decision', 'decision must be approve or reject');
  }
  return sha256(concatBytes(TAG, intentDigest, utf8ToBytes(decision)));
}
