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
 * JSON string serialization as RFC 8785 §3.2.2.2 (= ECMAScript JSON.stringify) requires. Strings with
 * nothing to escape (no quote, backslash, control character or surrogate) are emitted as is, which
 * is what JSON.stringify would produce, without the call: verification spends most of its time here.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching what JSON must escape is the point
const NOTHING_TO_ESCAPE = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
function q(s: string): string {
  return NOTHING_TO_ESCAPE.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * The canonical entry text. Built by concatenation rather than a generic canonicalizer because the
 * key order is fixed and `body` is already canonical; a safe integer `seq` serializes as its
 * decimal digits (§3.2.2.3). test/audit/verify.test.ts checks this equals canonicalJson() of the
 * same object for arbitrary strings and bodies.
 */
export function canonicalEntryText(e: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return `{"actor":${q(e.actor)},"at":${q(e.at)},"body":${e.body},"kind":${q(e.kind)},"seq":${e.seq},"subject":${q(e.subject)}}`;
}

/**
 * hash(n) from the hex hash(n-1). One-shot `crypto.hash` over one string built by one template: no
 * hasher object and no intermediate strings per entry.
 */
export function auditHashUnchecked(prevHash: string, e: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return oneShotHash(
    'sha256',
    `${AUDIT_DOMAIN_TAG}${prevHash}{"actor":${q(e.actor)},"at":${q(e.at)},"body":${e.body},"kind":${q(e.kind)},"seq":${e.seq},"subject":${q(e.subject)}}`,
    'hex',
  );
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
