import { verify as nodeVerify } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import { base64urlnopad } from '@scure/base';
import { type Vote, voteDigest } from '../approval/actions.ts';
import { fail, ok, type Result } from '../errors/base.ts';
import { ed25519KeyProblem } from '../identity/ed25519-key.ts';
import { ed25519KeyObject } from '../identity/keys.ts';
import { PrincipalSet } from '../identity/principal-set.ts';
import { bundleDigest, proposalDigestHex } from './digest.ts';
import { type AdminSignature, type Genesis, type TrustBundle, trustBundleSchema } from './types.ts';

export { bundleDigest } from './digest.ts';
export type {
  AdminSignature,
  BundleConfig,
  Genesis,
  ProposalDocument,
  TrustBundle,
  WalletRecord,
} from './types.ts';

export type BundleFailureCode =
  | 'EMPTY_CHAIN'
  | 'BUNDLE_MALFORMED'
  | 'INVALID_GENESIS'
  | 'INVALID_CONFIG'
  | 'VERSION_GAP'
  | 'BROKEN_CHAIN'
  | 'BUNDLE_TAMPERED'
  | 'TIME_REGRESSION'
  | 'DELAY_TOO_SHORT'
  | 'NOT_ADMIN'
  | 'BAD_SIGNATURE'
  | 'QUORUM_NOT_MET'
  | 'UNSATISFIABLE_QUORUM';

/** Who may sign the next bundle: the genesis keys, or the active admins of the previous config. */
export interface AdminAuthority {
  /** principal id (or the key itself at genesis) by public key hex */
  keys: Map<string, { principal: string; credentialId: string | null }>;
  quorum: number;
  delayFloorMs: number;
}

export function genesisAuthority(genesis: Genesis): Result<AdminAuthority, BundleFailureCode> {
  const keys = new Map<string, { principal: string; credentialId: string | null }>();
  for (const k of genesis.adminKeys) {
    const problem = ed25519KeyProblem(k);
    if (problem) return fail('INVALID_GENESIS', `genesis admin key ${problem}`, { key: k });
    keys.set(k, { principal: `genesis:${k}`, credentialId: null });
  }
  if (!Number.isInteger(genesis.quorum) || genesis.quorum < 1 || genesis.quorum > keys.size) {
    return fail('INVALID_GENESIS', 'genesis quorum must be between 1 and the number of distinct admin keys');
  }
  return ok({ keys, quorum: genesis.quorum, delayFloorMs: genesis.delayFloorMs ?? 0 });
}

export function bundleAuthority(b: TrustBundle): AdminAuthority {
  const keys = new Map<string, { principal: string; credentialId: string | null }>();
  for (const k of new PrincipalSet(b.config.principals).adminKeys()) {
    keys.set(k.publicKey, { principal: k.principal, credentialId: k.credentialId });
  }
  return { keys, quorum: b.config.admin.quorum, delayFloorMs: b.config.admin.delayFloorMs };
}

/**
 * Counts distinct admins with a valid Ed25519 signature over voteDigest(proposalDigest, vote).
 * A signature from a key outside the authority, or an invalid one, refuses the whole set: a
 * signed configuration carrying garbage is not something to half-trust.
 */
export function countAdminSignatures(
  proposalDigest: string,
  signatures: readonly AdminSignature[],
  authority: AdminAuthority,
  vote: Vote = 'approve',
): Result<string[], BundleFailureCode> {
  const message = voteDigest(hexToBytes(proposalDigest), vote);
  const signers = new Set<string>();
  for (const [i, s] of signatures.entries()) {
    const who = authority.keys.get(s.publicKey);
    if (
      !who ||
      (who.credentialId !== null && (who.credentialId !== s.credentialId || who.principal !== s.principal))
    ) {
      return fail(
        'NOT_ADMIN',
        'signature by a key that is not an active admin key of the previous configuration',
        {
          index: i,
          principal: s.principal,
        },
      );
    }
    let sig: Uint8Array;
    try {
      sig = base64urlnopad.decode(s.signature);
    } catch {
      return fail('BAD_SIGNATURE', 'admin signature is not base64url', { index: i });
    }
    if (sig.length !== 64 || !nodeVerify(null, message, ed25519KeyObject(s.publicKey), sig)) {
      return fail('BAD_SIGNATURE', 'admin signature invalid', { index: i, principal: s.principal });
    }
    signers.add(who.principal);
  }
  return ok([...signers]);
}

/**
 * Verifies one bundle as the successor of `prev` (null: the first bundle, signed by genesis).
 * Checks, in order: strict shape; version = prev + 1 (1 first); prevDigest = bundleDigest(prev);
 * proposalDigest recomputed from the content (any edit after signing shows here); times do not go
 * backwards; effectiveAt − proposedAt ≥ the previous floor (so lowering the floor is itself delayed
 * by the old floor, and no bundle is effective early); the admin quorum of the previous
 * configuration signed it; the new configuration is well formed and its own quorum satisfiable.
 */
export function verifyBundleLink(
  prev: TrustBundle | null,
  bundle: unknown,
  authority: AdminAuthority,
): Result<{ bundle: TrustBundle; signers: string[] }, BundleFailureCode> {
  const parsed = trustBundleSchema.safeParse(bundle);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return fail('BUNDLE_MALFORMED', `${issue.path.join('/')}: ${issue.message}`);
  }
  const b = parsed.data as unknown as TrustBundle;
  const expectedVersion = prev ? prev.version + 1 : 1;
  if (b.version !== expectedVersion) {
    return fail('VERSION_GAP', `expected version ${expectedVersion}, got ${b.version}`);
  }
  const expectedPrev = prev ? bundleDigest(prev) : null;
  if (b.prevDigest !== expectedPrev)
    return fail('BROKEN_CHAIN', 'prevDigest does not match the previous bundle');
  if (proposalDigestHex(b) !== b.proposalDigest) {
    return fail('BUNDLE_TAMPERED', 'bundle content does not match the proposal the admins signed');
  }
  const proposed = Date.parse(b.proposedAt);
  const effective = Date.parse(b.effectiveAt);
  if (prev && (proposed < Date.parse(prev.proposedAt) || effective < Date.parse(prev.effectiveAt))) {
    return fail('TIME_REGRESSION', 'bundle times go backwards');
  }
  if (effective - proposed < authority.delayFloorMs) {
    return fail(
      'DELAY_TOO_SHORT',
      `delay ${effective - proposed} ms is below the floor ${authority.delayFloorMs} ms`,
    );
  }
  let next: AdminAuthority;
  try {
    next = bundleAuthority(b);
  } catch (e) {
    return fail('INVALID_CONFIG', e instanceof Error ? e.message : String(e));
  }
  const distinctAdmins = new Set([...next.keys.values()].map((v) => v.principal)).size;
  if (next.quorum > distinctAdmins) {
    return fail('UNSATISFIABLE_QUORUM', 'the new admin quorum exceeds the number of active admins');
  }
  const counted = countAdminSignatures(b.proposalDigest, b.signatures, authority);
  if (!counted.ok) return counted;
  if (counted.value.length < authority.quorum) {
    return fail('QUORUM_NOT_MET', `${counted.value.length} of ${authority.quorum} admin signatures`);
  }
  return ok({ bundle: b, signers: counted.value });
}

/**
 * Verifies a whole chain offline from a pinned genesis (what co-signers and `custos bundle verify`
 * run): each bundle signed by the admin quorum of the previous configuration (genesis for the
 * first), chained digests, increasing versions, delays honoured, nothing edited after signing.
 */
export function verifyBundleChain(
  bundles: readonly unknown[],
  genesis: Genesis,
): Result<{ latest: TrustBundle }, BundleFailureCode> {
  if (bundles.length === 0) return fail('EMPTY_CHAIN', 'no bundle to verify');
  const g = genesisAuthority(genesis);
  if (!g.ok) return g;
  let authority = g.value;
  let prev: TrustBundle | null = null;
  for (const [i, raw] of bundles.entries()) {
    const r = verifyBundleLink(prev, raw, authority);
    if (!r.ok) return { ...r, details: { ...r.details, index: i } };
    prev = r.value.bundle;
    authority = bundleAuthority(prev);
  }
  return ok({ latest: prev! });
}
