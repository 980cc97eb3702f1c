import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJsonBytes } from '../encoding/canonical-json.ts';
import type { ProposalDocument, TrustBundle } from './types.ts';

/**
 * Protocol constants.
 *   proposalDigest = SHA-256("CUSTOS-PROPOSAL-V1\n" || JCS({version, prevDigest, proposedAt, effectiveAt, config}))
 *   bundleDigest   = SHA-256("CUSTOS-BUNDLE-V1\n"   || JCS({version, prevDigest, proposedAt, effectiveAt, config, proposalDigest}))
 * Admins sign voteDigest(proposalDigest, "approve") (see core/approval/actions.ts). The bundle
 * digest excludes the signatures (a set that may grow), so the chain links content, and every
 * link is re-verified for its quorum anyway.
 */
export const PROPOSAL_DOMAIN_TAG = 'CUSTOS-PROPOSAL-V1\n';
export const BUNDLE_DOMAIN_TAG = 'CUSTOS-BUNDLE-V1\n';
const PTAG = utf8ToBytes(PROPOSAL_DOMAIN_TAG);
const BTAG = utf8ToBytes(BUNDLE_DOMAIN_TAG);

export function proposalDocument(b: ProposalDocument): ProposalDocument {
  return {
    version: b.version,
    prevDigest: b.prevDigest,
    proposedAt: b.proposedAt,
    effectiveAt: b.effectiveAt,
    config: b.config,
  };
}

export function proposalDigest(doc: ProposalDocument): Uint8Array {
  return sha256(concatBytes(PTAG, canonicalJsonBytes(proposalDocument(doc))));
}

export function proposalDigestHex(doc: ProposalDocument): string {
  return bytesToHex(proposalDigest(doc));
}

export function bundleDigest(b: TrustBundle): string {
  const body = { ...proposalDocument(b), proposalDigest: b.proposalDigest };
  return bytesToHex(sha256(concatBytes(BTAG, canonicalJsonBytes(body))));
}
