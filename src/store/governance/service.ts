import type { Vote } from '../../core/approval/actions.ts';
import { canonicalJson } from '../../core/encoding/canonical-json.ts';
import { CustosError, fail, ok, type Result } from '../../core/errors/base.ts';
import {
  type AdminAuthority,
  bundleAuthority,
  countAdminSignatures,
  genesisAuthority,
  verifyBundleChain,
  verifyBundleLink,
} from '../../core/governance/bundle.ts';
import { bundleDigest, proposalDigestHex } from '../../core/governance/digest.ts';
import { assembleBundle } from '../../core/governance/proposal.ts';
import {
  type AdminSignature,
  adminSignatureSchema,
  type Genesis,
  type ProposalDocument,
  proposalDocumentSchema,
  type TrustBundle,
} from '../../core/governance/types.ts';
import type { WebhookOutbox } from '../../webhooks/outbox.ts';
import { advisoryXactLock, type Db, type Queryable } from '../db.ts';
import type { PrincipalStore } from '../principals.ts';
import { GOV_SQL, GOVERNANCE_LOCK } from './sql.ts';

/** What governance writes to the audit log; `AuditLog` (src/store/audit.ts) satisfies it. */
export interface GovernanceAuditSink {
  appendInTx(
    tx: Queryable,
    entries: { kind: string; actor: string; subject: string; body: unknown }[],
  ): Promise<unknown>;
}

export interface GovernanceServiceOptions {
  /** The pinned root: admin keys and quorum that sign bundle 1. */
  genesis: Genesis;
  now: () => string;
  audit?: GovernanceAuditSink;
  webhooks?: WebhookOutbox;
  /** When given, executed bundles update the principals tables. */
  principals?: PrincipalStore;
  /** How far a proposal's `proposedAt` may be from our clock (default 5 minutes): no backdating. */
  maxClockSkewMs?: number;
}

export type GovernanceCode =
  | 'SIGNATURE_REQUIRED'
  | 'MALFORMED_PROPOSAL'
  | 'CLOCK_SKEW'
  | 'UNKNOWN_PROPOSAL'
  | 'NOT_PENDING'
  | 'ALREADY_VOTED'
  | 'DELAY_NOT_ELAPSED'
  | 'DELAY_OVER'
  | 'STALE_PROPOSAL'
  | string;

export interface ProposalRecord {
  digest: string;
  version: number;
  proposer: string;
  proposedAt: string;
  effectiveAt: string;
  status: 'pending' | 'cancelled' | 'executed' | 'superseded';
  closedBy: string | null;
  document?: ProposalDocument;
}

/**
 * Governance (I4): proposals to change the configuration, admin votes, cancellation during the
 * delay, execution into the next trust bundle. Every action takes an admin's Ed25519 signature
 * over that action's digest — never a session. Every step is written to the audit log and the
 * webhook outbox in the same transaction as the change.
 *
 * The current configuration is always read by re-verifying the whole bundle chain from the pinned
 * genesis, so a bundle edited in the database (even with the append-only triggers disabled) makes
 * every read and every action fail with BUNDLE_CHAIN_INVALID instead of being trusted.
 */
export class GovernanceService {
  private readonly skew: number;
  /** The stored rows (as text) that last verified: see chain(). */
  private verifiedRows: string[] | undefined;
  /** Their row versions and the verified bundles (frozen): see chain(). */
  private verifiedChain: { rowVersions: string[]; bundles: readonly TrustBundle[] } | undefined;
  constructor(
    private readonly db: Db,
    private readonly options: GovernanceServiceOptions,
  ) {
    this.skew = options.maxClockSkewMs ?? 5 * 60_000;
    const g = genesisAuthority(options.genesis);
    if (!g.ok) throw new CustosError(g.code, g.message);
  }

  /** The verified chain; throws BUNDLE_CHAIN_INVALID when any stored bundle fails verification. */
  async chain(q: Queryable = this.db): Promise<TrustBundle[]> {
    // The trust view calls this every second in every process. Rows whose (version, xmin) are those
    // that last verified are those very rows — any write to one gives it a new xmin — so the
    // verified bundles are handed out again without reading and parsing the documents (each one
    // carries every wallet). Any change is read and verified in full below.
    const { rows: current } = await q.query<{ version: number; row_version: string }>(
      GOV_SQL.chainRowVersions,
    );
    const cached = this.verifiedChain;
    if (cached && sameTexts(current.map(rowVersionKey), cached.rowVersions)) return [...cached.bundles];
    const { rows } = await q.query<{ version: number; digest: string; bundle: string; row_version: string }>(
      GOV_SQL.chain,
    );
    if (rows.length === 0) return [];
    const bundles = rows.map((r) => deepFreeze(JSON.parse(r.bundle) as TrustBundle));
    const remember = () => {
      this.verifiedChain = { rowVersions: rows.map(rowVersionKey), bundles };
    };
    // Verification is a pure function of the stored rows and the pinned genesis: rows identical,
    // byte for byte, to the last ones that verified need no second verification (the trust view
    // reads the chain every second). Any change to any row — a new bundle or a forged one — is a
    // different text and is verified in full.
    const texts = rows.map((r) => `${r.version}\u0000${r.digest}\u0000${r.bundle}`);
    if (sameTexts(texts, this.verifiedRows)) {
      remember();
      return [...bundles];
    }
    const r = verifyBundleChain(bundles, this.options.genesis);
    if (!r.ok) {
      throw new CustosError('BUNDLE_CHAIN_INVALID', `stored trust bundles fail verification: ${r.message}`, {
        details: { code: r.code, ...r.details },
      });
    }
    rows.forEach((row, i) => {
      if (row.digest !== bundleDigest(bundles[i]!)) {
        throw new CustosError('BUNDLE_CHAIN_INVALID', 'stored digest column does not match the bundle', {
          details: { version: row.version },
        });
      }
    });
    this.verifiedRows = texts;
    remember();
    return [...bundles];
  }

  async current(q: Queryable = this.db): Promise<TrustBundle | null> {
    const c = await this.chain(q);
    return c[c.length - 1] ?? null;
  }

  private async state(q: Queryable): Promise<{ current: TrustBundle | null; authority: AdminAuthority }> {
    const current = await this.current(q);
    if (current) return { current, authority: bundleAuthority(current) };
    const g = genesisAuthority(this.options.genesis);
    if (!g.ok) throw new CustosError(g.code, g.message);
    return { current, authority: g.value };
  }

  private async record(
    tx: Queryable,
    kind: string,
    actor: string,
    subject: string,
    body: Record<string, unknown>,
  ): Promise<void> {
    await this.options.audit?.appendInTx(tx, [{ kind, actor, subject, body }]);
    await this.options.webhooks?.enqueue(tx, kind, { subject, actor, ...body }, this.options.now());
  }

  /**
   * Records a new proposal, the proposer's signature being its first `approve` vote. Refused
   * unless it is the successor of the current bundle, proposedAt is our present (± skew, so a
   * proposal cannot be backdated to shorten its delay), the delay is at least the current floor,
   * the new configuration is well formed, and the signer is an admin of the current configuration.
   */
  async propose(
    doc: unknown,
    signature: AdminSignature | undefined,
  ): Promise<Result<ProposalRecord, GovernanceCode>> {
    if (!signature) return fail('SIGNATURE_REQUIRED', 'a proposal needs its proposer’s signature');
    const parsed = proposalDocumentSchema.safeParse(doc);
    if (!parsed.success) return fail('MALFORMED_PROPOSAL', parsed.error.issues[0]!.message);
    const sig = adminSignatureSchema.safeParse(signature);
    if (!sig.success) return fail('MALFORMED_SIGNATURE', sig.error.issues[0]!.message);
    const d = parsed.data as unknown as ProposalDocument;
    const now = Date.parse(this.options.now());
    if (Math.abs(Date.parse(d.proposedAt) - now) > this.skew) {
      return fail('CLOCK_SKEW', 'proposedAt must be the present time');
    }
    const digest = proposalDigestHex(d);
    return this.db.transaction(async (tx) => {
      const { current, authority } = await this.state(tx);
      const link = verifyBundleLink(current, assembleBundle(d, [sig.data]), { ...authority, quorum: 1 });
      if (!link.ok) return link;
      const existing = await tx.query(GOV_SQL.getProposal, [digest]);
      if (existing.rows.length > 0) return fail('DUPLICATE_PROPOSAL', 'this proposal already exists');
      const proposer = link.value.signers[0]!;
      await tx.query(GOV_SQL.insertProposal, [
        digest,
        d.version,
        canonicalJson(d),
        proposer,
        d.proposedAt,
        d.effectiveAt,
      ]);
      await this.insertVote(tx, digest, 'approve', sig.data, proposer);
      await this.record(tx, 'governance.proposed', proposer, digest, {
        version: d.version,
        proposedAt: d.proposedAt,
        effectiveAt: d.effectiveAt,
      });
      return ok({
        digest,
        version: d.version,
        proposer,
        proposedAt: d.proposedAt,
        effectiveAt: d.effectiveAt,
        status: 'pending' as const,
        closedBy: null,
      });
    });
  }

  private async insertVote(tx: Queryable, digest: string, vote: Vote, s: AdminSignature, principal: string) {
    return tx.query(GOV_SQL.insertVote, [
      digest,
      principal,
      vote,
      s.credentialId,
      s.publicKey,
      s.signature,
      this.options.now(),
    ]);
  }

  private async signedBy(
    q: Queryable,
    digest: string,
    vote: Vote,
    signature: AdminSignature | undefined,
  ): Promise<Result<{ principal: string; proposal: ProposalRecord }, GovernanceCode>> {
    if (!signature)
      return fail('SIGNATURE_REQUIRED', `a ${vote} vote needs an admin signature over its vote digest`);
    const sig = adminSignatureSchema.safeParse(signature);
    if (!sig.success) return fail('MALFORMED_SIGNATURE', sig.error.issues[0]!.message);
    const proposal = await this.proposal(digest, q);
    if (!proposal) return fail('UNKNOWN_PROPOSAL', 'no such proposal');
    if (proposal.status !== 'pending') return fail('NOT_PENDING', `proposal is ${proposal.status}`);
    const { authority } = await this.state(q);
    const counted = countAdminSignatures(digest, [sig.data], authority, vote);
    if (!counted.ok) return counted;
    return ok({ principal: counted.value[0]!, proposal });
  }

  /** An admin's approval of a pending proposal (signature over voteDigest(digest, "approve")). */
  async vote(
    digest: string,
    signature: AdminSignature | undefined,
  ): Promise<Result<{ approvals: number }, GovernanceCode>> {
    return this.db.transaction(async (tx) => {
      const s = await this.signedBy(tx, digest, 'approve', signature);
      if (!s.ok) return s;
      const r = await this.insertVote(tx, digest, 'approve', signature!, s.value.principal);
      if (r.rowCount === 0) return fail('ALREADY_VOTED', 'this admin already approved');
      await this.record(tx, 'governance.voted', s.value.principal, digest, { vote: 'approve' });
      const votes = await tx.query(GOV_SQL.votes, [digest, 'approve']);
      return ok({ approvals: votes.rows.length });
    });
  }

  /** Any single admin cancels a pending proposal during its delay (signature over voteDigest(digest, "cancel")). */
  async cancel(
    digest: string,
    signature: AdminSignature | undefined,
  ): Promise<Result<ProposalRecord, GovernanceCode>> {
    return this.db.transaction(async (tx) => {
      const s = await this.signedBy(tx, digest, 'cancel', signature);
      if (!s.ok) return s;
      if (Date.parse(this.options.now()) >= Date.parse(s.value.proposal.effectiveAt)) {
        return fail('DELAY_OVER', 'the delay is over: the proposal can no longer be cancelled');
      }
      await this.insertVote(tx, digest, 'cancel', signature!, s.value.principal);
      await tx.query(GOV_SQL.close, [digest, 'cancelled', s.value.principal, this.options.now()]);
      await this.record(tx, 'governance.cancelled', s.value.principal, digest, {});
      return ok({ ...s.value.proposal, status: 'cancelled' as const, closedBy: s.value.principal });
    });
  }

  /**
   * Turns a pending proposal into the next trust bundle once its delay has elapsed and the admin
   * quorum of the current configuration has signed it. Serialized by an advisory lock; other
   * pending proposals for the same version become `superseded`.
   */
  async execute(digest: string): Promise<Result<{ bundle: TrustBundle; digest: string }, GovernanceCode>> {
    return this.db.transaction(async (tx) => {
      await advisoryXactLock(tx, GOVERNANCE_LOCK);
      const proposal = await this.proposal(digest, tx);
      if (!proposal?.document) return fail('UNKNOWN_PROPOSAL', 'no such proposal');
      if (proposal.status !== 'pending') return fail('NOT_PENDING', `proposal is ${proposal.status}`);
      const now = this.options.now();
      if (Date.parse(now) < Date.parse(proposal.effectiveAt)) {
        return fail('DELAY_NOT_ELAPSED', `proposal takes effect at ${proposal.effectiveAt}`, {
          effectiveAt: proposal.effectiveAt,
        });
      }
      const { current, authority } = await this.state(tx);
      if ((current?.version ?? 0) + 1 !== proposal.version) {
        return fail('STALE_PROPOSAL', 'another proposal for this version was executed first');
      }
      const { rows } = await tx.query<Record<string, string>>(GOV_SQL.votes, [digest, 'approve']);
      const signatures: AdminSignature[] = rows.map((r) => ({
        principal: r.principal_id!,
        credentialId: r.credential_id!,
        publicKey: r.public_key!,
        signature: r.signature!,
      }));
      const bundle = assembleBundle(proposal.document, signatures);
      const link = verifyBundleLink(current, bundle, authority);
      if (!link.ok) return link;
      const bDigest = bundleDigest(bundle);
      await tx.query(GOV_SQL.insertBundle, [bundle.version, bDigest, canonicalJson(bundle), now]);
      await tx.query(GOV_SQL.close, [digest, 'executed', null, now]);
      await tx.query(GOV_SQL.supersede, [bundle.version, now]);
      await this.options.principals?.syncFromBundle(tx, bundle.config.principals, `governance:${digest}`);
      await this.record(tx, 'governance.executed', 'governance', digest, {
        version: bundle.version,
        bundleDigest: bDigest,
        signers: link.value.signers,
      });
      return ok({ bundle, digest: bDigest });
    });
  }

  async proposal(digest: string, q: Queryable = this.db): Promise<ProposalRecord | null> {
    const { rows } = await q.query<Record<string, unknown>>(GOV_SQL.getProposal, [digest]);
    const r = rows[0];
    if (!r) return null;
    const document = JSON.parse(String(r.document)) as ProposalDocument;
    // The stored document must still hash to its key: an edited row is not a proposal anyone signed.
    if (proposalDigestHex(document) !== digest) {
      throw new CustosError('PROPOSAL_TAMPERED', 'stored proposal does not match its digest', {
        details: { digest },
      });
    }
    // Version and times come from the signed document, never from the (editable) columns.
    return {
      digest,
      version: document.version,
      proposer: String(r.proposer),
      proposedAt: document.proposedAt,
      effectiveAt: document.effectiveAt,
      status: r.status as ProposalRecord['status'],
      closedBy: r.closed_by === null ? null : String(r.closed_by),
      document,
    };
  }

  async listProposals(): Promise<ProposalRecord[]> {
    const { rows } = await this.db.query<Record<string, unknown>>(GOV_SQL.listProposals);
    return rows.map((r) => ({
      digest: String(r.digest),
      version: Number(r.version),
      proposer: String(r.proposer),
      proposedAt: String(r.proposed_at),
      effectiveAt: String(r.effective_at),
      status: r.status as ProposalRecord['status'],
      closedBy: r.closed_by === null ? null : String(r.closed_by),
    }));
  }
}

const rowVersionKey = (r: { version: number; row_version: string }) => `${r.version}:${r.row_version}`;

/** Freezes a parsed JSON document throughout (the verified bundles are shared between readers). */
function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function sameTexts(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((t, i) => t === b[i]);
}
