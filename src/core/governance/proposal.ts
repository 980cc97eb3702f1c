import { InvalidInputError } from '../errors/base.ts';
import { bundleDigest, proposalDigestHex } from './digest.ts';
import type { AdminSignature, BundleConfig, Genesis, ProposalDocument, TrustBundle } from './types.ts';

/** Delay applied when a proposal names none: one day to notice and cancel a hostile change. */
export const DEFAULT_DELAY_MS = 24 * 3_600_000;

/**
 * Drafts the proposal for the next bundle. The delay is `delayMs` (default 24 h, raised to the
 * floor when the floor is higher); asking for less than the current floor is refused rather than
 * silently raised, so nobody believes a change takes effect sooner than it will. The floor in
 * force is the *current* configuration's, so a proposal lowering the floor waits the old one.
 */
export function draftProposal(params: {
  current: TrustBundle | null;
  genesis?: Genesis;
  config: BundleConfig;
  proposedAt: string;
  delayMs?: number;
}): ProposalDocument {
  const { current, config, proposedAt } = params;
  const floor = current ? current.config.admin.delayFloorMs : (params.genesis?.delayFloorMs ?? 0);
  const requested = params.delayMs ?? Math.max(DEFAULT_DELAY_MS, floor);
  if (!Number.isInteger(requested) || requested < 0) {
    throw new InvalidInputError(
      'INVALID_DELAY',
      'delayMs',
      'delay must be a non-negative integer of milliseconds',
    );
  }
  if (requested < floor) {
    throw new InvalidInputError(
      'DELAY_BELOW_FLOOR',
      'delayMs',
      `delay ${requested} ms is below the floor ${floor} ms`,
      {
        details: { floor },
      },
    );
  }
  const t = Date.parse(proposedAt);
  if (!Number.isFinite(t)) throw new InvalidInputError('INVALID_TIME', 'proposedAt', 'not a timestamp');
  return {
    version: current ? current.version + 1 : 1,
    prevDigest: current ? bundleDigest(current) : null,
    proposedAt,
    effectiveAt: new Date(t + requested).toISOString().replace('.000Z', 'Z'),
    config,
  };
}

/** The bundle a proposal becomes once executed, with the admin signatures collected. */
export function assembleBundle(doc: ProposalDocument, signatures: AdminSignature[]): TrustBundle {
  return {
    version: doc.version,
    prevDigest: doc.prevDigest,
    proposedAt: doc.proposedAt,
    effectiveAt: doc.effectiveAt,
    config: doc.config,
    proposalDigest: proposalDigestHex(doc),
    signatures,
  };
}
