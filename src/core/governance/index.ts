export {
  type AdminAuthority,
  type BundleFailureCode,
  bundleAuthority,
  countAdminSignatures,
  genesisAuthority,
  verifyBundleChain,
  verifyBundleLink,
} from './bundle.ts';
export {
  BUNDLE_DOMAIN_TAG,
  bundleDigest,
  PROPOSAL_DOMAIN_TAG,
  proposalDigest,
  proposalDigestHex,
  proposalDocument,
} from './digest.ts';
export { assembleBundle, DEFAULT_DELAY_MS, draftProposal } from './proposal.ts';
export {
  type AdminSignature,
  adminSignatureSchema,
  type BundleConfig,
  bundleConfigSchema,
  type Genesis,
  type ProposalDocument,
  proposalDocumentSchema,
  type TrustBundle,
  trustBundleSchema,
  type WalletRecord,
} from './types.ts';
