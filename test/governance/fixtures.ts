import { hexToBytes } from '@noble/hashes/utils.js';
import { voteDigest } from '../../src/core/approval/actions.ts';
import { proposalDigest } from '../../src/core/governance/digest.ts';
import { assembleBundle, draftProposal } from '../../src/core/governance/proposal.ts';
import type {
  AdminSignature,
  BundleConfig,
  Genesis,
  ProposalDocument,
  TrustBundle,
} from '../../src/core/governance/types.ts';
import { EdKey, principal, T0 } from '../approval/fixtures.ts';

export const DAY = 86_400_000;

export class Admin {
  readonly key: EdKey;
  constructor(readonly id: string) {
    this.key = new EdKey(`${id}-gov`);
  }
  principal() {
    return principal(this.id, ['admin'], [], [this.key.credential()]);
  }
  vote(doc: ProposalDocument | string, vote: 'approve' | 'cancel' = 'approve'): AdminSignature {
    const d = typeof doc === 'string' ? hexToBytes(doc) : proposalDigest(doc);
    return {
      principal: this.id,
      credentialId: this.key.id,
      publicKey: this.key.publicKey,
      signature: this.key.signRaw(voteDigest(d, vote)),
    };
  }
  /** A vote as the genesis key (no principal yet). */
  genesisVote(doc: ProposalDocument): AdminSignature {
    return { ...this.vote(doc), principal: `genesis:${this.key.publicKey}`, credentialId: 'genesis' };
  }
}

export function config(admins: Admin[], over: Partial<BundleConfig> = {}): BundleConfig {
  return {
    policy: { version: 1, rules: [] },
    principals: admins.map((a) => a.principal()),
    addressBook: [],
    wallets: [
      {
        id: 'hot-1',
        chain: 'eip155:1',
        type: 'evm-hot',
        config: { address: '0x52908400098527886E0F7030069857D2E4169EE7' },
      },
    ],
    screening: [],
    checkpointKeys: [],
    admin: { quorum: 2, delayFloorMs: DAY },
    ...over,
  };
}

export function genesisOf(admins: Admin[], quorum = 2): Genesis {
  return { adminKeys: admins.map((a) => a.key.publicKey), quorum };
}

/** Bundle v1 signed by genesis keys, then successors signed by the admins of the previous config. */
export function firstBundle(admins: Admin[], cfg = config(admins)): TrustBundle {
  const doc = draftProposal({
    current: null,
    genesis: genesisOf(admins),
    config: cfg,
    proposedAt: T0,
    delayMs: 0,
  });
  return assembleBundle(
    doc,
    admins.slice(0, 2).map((a) => a.genesisVote(doc)),
  );
}

export function nextBundle(
  current: TrustBundle,
  signers: Admin[],
  cfg: BundleConfig,
  proposedAt: string,
  delayMs?: number,
): TrustBundle {
  const doc = draftProposal({ current, config: cfg, proposedAt, delayMs });
  return assembleBundle(
    doc,
    signers.map((a) => a.vote(doc)),
  );
}
