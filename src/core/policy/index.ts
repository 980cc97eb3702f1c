/** The policy engine's public surface (pure: no I/O, no clock). */
export { AddressBookIndex } from '../addressbook/index.ts';
export { contextSchema, parseEvalContext } from './context.ts';
export { type EvalContext, evaluate } from './evaluate.ts';
export { type LedgerField, LedgerIndex, type LedgerProbe, normaliseDestination } from './ledger.ts';
export { type LintIssue, lintPolicy } from './lint.ts';
export { loadPolicy, POLICY_DOMAIN_TAG, type Policy, policyDigest, policyFromDocument } from './load.ts';
export {
  boundedEditDistance,
  findLookalike,
  LOOKALIKE_CODE,
  LOOKALIKE_MAX_EDITS,
  type LookalikeCandidate,
} from './lookalike.ts';
export {
  type PolicyDocument,
  type PolicyLimit,
  type PolicyRule,
  policyJsonSchema,
  policySchema,
} from './schema.ts';
export type {
  AddressBookEntry,
  AddressBookStatus,
  ApprovalRequirement,
  AssetInfo,
  AssetRegistry,
  Decision,
  Finding,
  LedgerEntry,
  LimitUsage,
  Requester,
  ScreeningStatus,
} from './types.ts';
export { decimalToBaseUnits, parseDuration } from './units.ts';
