import { z } from 'zod';
import type { Principal } from '../identity/types.ts';
import { principalSchema } from '../identity/types.ts';
import { RFC3339_UTC_RE } from '../intent/schema.ts';
import type { AddressBookEntry } from '../policy/types.ts';

/**
 * The trust bundle: the whole effective configuration (policy, principals and their keys, address
 * book, wallets, screening list digests, checkpoint keys, admin quorum and delay floor) as one
 * canonical document, numbered, chained to the previous bundle's digest, and carrying the admin
 * quorum's signatures on the proposal that created it (I4, T8).
 */
const timestamp = z.string().regex(RFC3339_UTC_RE, 'must be an RFC 3339 UTC timestamp');
const HEX32 = /^[0-9a-f]{64}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const jsonObject = z.record(z.string(), z.unknown());

export const walletRecordSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
    chain: z.string().min(1).max(128),
    type: z.enum(['safe', 'evm-hot', 'bitcoin-descriptor']),
    /** validated by the chain module at use */
    config: jsonObject,
  })
  .strict();

export const adminConfigSchema = z
  .object({
    /** distinct admins whose signatures a proposal needs */
    quorum: z.number().int().min(1).max(64),
    /** no proposal takes effect sooner than this after it was proposed; lowering it waits the old floor */
    delayFloorMs: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400_000),
  })
  .strict();

export const bundleConfigSchema = z
  .object({
    /** the policy document, validated by the policy module */
    policy: jsonObject,
    principals: z.array(principalSchema).max(10_000),
    /** address book entries, validated by the policy module */
    addressBook: z.array(jsonObject).max(1_000_000),
    wallets: z.array(walletRecordSchema).max(10_000),
    screening: z
      .array(z.object({ name: z.string().min(1).max(128), digest: z.string().regex(HEX32) }).strict())
      .max(256),
    /** Ed25519 public keys (hex) allowed to sign audit-log checkpoints */
    checkpointKeys: z.array(z.string().regex(HEX32)).max(64),
    admin: adminConfigSchema,
  })
  .strict();

export const adminSignatureSchema = z
  .object({
    principal: z.string().min(1).max(128),
    credentialId: z.string().min(1).max(1400),
    /** the signer's Ed25519 key (hex), matched against the previous configuration or the genesis keys */
    publicKey: z.string().regex(HEX32),
    /** Ed25519 over voteDigest(proposalDigest, "approve"), base64url */
    signature: z.string().regex(B64URL).max(86),
  })
  .strict();

export const proposalDocumentSchema = z
  .object({
    version: z.number().int().min(1),
    prevDigest: z.string().regex(HEX32).nullable(),
    proposedAt: timestamp,
    effectiveAt: timestamp,
    config: bundleConfigSchema,
  })
  .strict();

export const trustBundleSchema = z
  .object({
    ...proposalDocumentSchema.shape,
    proposalDigest: z.string().regex(HEX32),
    signatures: z.array(adminSignatureSchema).max(64),
  })
  .strict();

export type WalletRecord = z.infer<typeof walletRecordSchema>;
export type AdminSignature = z.infer<typeof adminSignatureSchema>;
export type BundleConfig = Omit<
  z.infer<typeof bundleConfigSchema>,
  'addressBook' | 'principals' | 'policy'
> & {
  policy: unknown;
  principals: Principal[];
  addressBook: AddressBookEntry[];
};
/** What admins sign (through its digest): the next bundle without its signatures. */
export type ProposalDocument = Omit<z.infer<typeof proposalDocumentSchema>, 'config'> & {
  config: BundleConfig;
};
export type TrustBundle = ProposalDocument & { proposalDigest: string; signatures: AdminSignature[] };

/** The pinned root of trust of a co-signer: the admin keys and quorum that sign the first bundle. */
export interface Genesis {
  adminKeys: string[];
  quorum: number;
  /** delay floor for the first bundle (default 0: bootstrapping is not delayed) */
  delayFloorMs?: number;
}
