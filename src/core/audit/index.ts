export {
  type AuditCheckpoint,
  CHECKPOINT_DOMAIN_TAG,
  type CheckpointSigner,
  checkpointPayload,
  verifyCheckpointSignature,
} from './checkpoint.ts';
export {
  AUDIT_DOMAIN_TAG,
  type AuditEntryInput,
  type AuditRecord,
  auditHash,
  auditHashUnchecked,
  canonicalEntryText,
  chainEntries,
  GENESIS_HASH,
  isHashHex,
  prepareEntry,
} from './entry.ts';
export { parseAuditExport } from './export-format.ts';
export {
  AuditVerifier,
  type AuditVerifyFailure,
  type AuditVerifyOk,
  type AuditVerifyResult,
  TAMPER_CODES,
  type TamperKind,
  verifyAuditLog,
} from './verify.ts';
