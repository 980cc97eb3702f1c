import { hash as oneShotHash } from 'node:crypto';
import { canonicalJson } from '../encoding/canonical-json.ts';
import { InvalidInputError } from '../errors/base.ts';

/**
 * Audit log entries and their hash chain (invariant I5).
 *
 * Protocol constant, version 1:
 *
 *   canonical entry = RFC 8785 JCS of {"actor","at","body","kind","seq","subject"}
 *   hash(n)         = lower-case hex of SHA-256( UTF-8( "CUSTOS-AUDIT-V1\n" || hash(n-1) || canonical entry n ) )
 *   hash(0)         = "000…0" (64 zeros: the genesis "previous hash")
 *
 * i.e. the previous hash enters as its 64 hex characters, so the whole input is one line of text
 * an auditor can rebuild with printf and sha256sum.
 *
 * `body` is stored as its canonical JSON text, exactly as hashed, so verification hashes the stored
 * text without parsing it. The domain tag keeps an audit hash from ever equalling an intent, approval
 * or checkpoint digest over the same bytes.
 */
export const AUDIT_DOMAIN_TAG = 'CUSTOS-AUDIT-V1\n';
export const GENESIS_HASH = '0'.repeat(64);

const HASH_RE = /^[0-9a-f]{64}$/;
/** Entry kinds are dotted lower-case names (`intent.created`, `cosigner.refused`). */
const KIND_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** What a caller appends: the store assigns `seq`, `at`, `prevHash` and `hash`. */
export interface AuditEntryInput {
  kind: string;
  actor: string;
  subject: string;
  /** Any JSON value; stored as its RFC 8785 canonical text. */
  body: unknown;
}

/** One stored entry, exactly as hashed. */
export interface AuditRecord {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  subject: string;
  /** RFC 8785 canonical JSON text. */
  body: string;
  prevHash: string;
  hash: string;
}

export function isHashHex(s: unknown): s is string {
  return typeof s === 'string' && HASH_RE.test(s);
}

/**
 * The canonical entry text. Built by concatenation rather than a generic canonicalizer because the
 * key order is fixed and `body` is already canonical: JSON.stringify of a string is exactly the
 * RFC 8785 §3.2.2.2 string serialization, and a safe integer `seq` serializes as its decimal digits
 * (§3.2.2.3). test/audit/entry.test.ts checks this equals canonicalJson() of the same object.
 */
export function canonicalEntryText(e: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return `{"actor":${JSON.stringify(e.actor)},"at":${JSON.stringify(e.at)},"body":${e.body},"kind":${JSON.stringify(e.kind)},"seq":${e.seq},"subject":${JSON.stringify(e.subject)}}`;
}

/**
 * hash(n) from the hex hash(n-1). One-shot `crypto.hash` over one string: no hasher object per
 * entry, which is what makes verification run at several hundred thousand entries per second.
 */
export function auditHashUnchecked(prevHash: string, e: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return oneShotHash('sha256', AUDIT_DOMAIN_TAG + prevHash + canonicalEntryText(e), 'hex');
}

export function auditHash(prevHash: string, e: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  if (!isHashHex(prevHash)) throw new InvalidInputError('INVALID_HASH', 'prevHash', 'not a SHA-256 hex hash');
  return auditHashUnchecked(prevHash, e);
}

/** Validates an entry to append and returns it with its body in canonical form. */
export function prepareEntry(input: AuditEntryInput): Omit<AuditEntryInput, 'body'> & { body: string } {
  if (typeof input.kind !== 'string' || !KIND_RE.test(input.kind) || input.kind.length > 64) {
    throw new InvalidInputError('INVALID_AUDIT_ENTRY', 'kind', 'kind must be a dotted lower-case name');
  }
  for (const f of ['actor', 'subject'] as const) {
    if (typeof input[f] !== 'string' || input[f].length > 256) {
      throw new InvalidInputError('INVALID_AUDIT_ENTRY', f, `${f} must be a string of at most 256 chars`);
    }
  }
  if (input.body === undefined) {
    throw new InvalidInputError('INVALID_AUDIT_ENTRY', 'body', 'body is required (use {} for none)');
  }
  return { kind: input.kind, actor: input.actor, subject: input.subject, body: canonicalJson(input.body) };
}

/**
 * Chains prepared entries onto a head: assigns seq, at, prevHash and hash. Pure: the store passes
 * in the head it read under the append lock and the time from its clock.
 */
export function chainEntries(
  head: { seq: number; hash: string } | null,
  at: string,
  entries: ReadonlyArray<ReturnType<typeof prepareEntry>>,
): AuditRecord[] {
  if (!AT_RE.test(at)) throw new InvalidInputError('INVALID_AUDIT_ENTRY', 'at', 'at must be RFC 3339 UTC');
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const out: AuditRecord[] = [];
  for (const p of entries) {
    seq++;
    const rec = { seq, at, kind: p.kind, actor: p.actor, subject: p.subject, body: p.body };
    const hash = auditHashUnchecked(prevHash, rec);
    out.push({ ...rec, prevHash, hash });
    prevHash = hash;
  }
  return out;
}
