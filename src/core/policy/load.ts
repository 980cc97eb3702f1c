import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { parseAssetId, parseChainId } from '../chains/caip.ts';
import { canonicalJson } from '../encoding/canonical-json.ts';
import { CustosError, InvalidInputError } from '../errors/base.ts';
import { type CompiledPolicy, checkTimezone, compilePolicy } from './compile.ts';
import { type PolicyDocument, policySchema } from './schema.ts';

/**
 * Loading a policy: YAML → strict schema → semantic checks → normalised document → digest.
 * A malformed policy never loads; the error names the file, the line and the field.
 */

/** Protocol constant: policyDigest = SHA-256("CUSTOS-POLICY-V1\n" || JCS(normalised document)). */
export const POLICY_DOMAIN_TAG = 'CUSTOS-POLICY-V1\n';

export interface Policy {
  /** the normalised document (defaults filled in, `$schema` editor hint removed) */
  readonly document: PolicyDocument;
  /** hex SHA-256, see POLICY_DOMAIN_TAG */
  readonly digest: string;
  readonly compiled: CompiledPolicy;
}

/** Digest of the normalised document: key order, comments and YAML style never change it. */
export function policyDigest(policy: Policy | PolicyDocument): string {
  const doc = 'document' in policy ? policy.document : policy;
  const { $schema: _editorHint, ...rest } = doc;
  return bytesToHex(sha256(utf8ToBytes(POLICY_DOMAIN_TAG + canonicalJson(rest))));
}

function lineOf(lc: LineCounter, offset: number | undefined): { line: number; col: number } | undefined {
  if (offset === undefined) return undefined;
  const p = lc.linePos(offset);
  return { line: p.line, col: p.col };
}

function fail(
  file: string,
  pos: { line: number; col: number } | undefined,
  field: string,
  message: string,
  code = 'POLICY_INVALID',
): never {
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  throw new InvalidInputError(code, field || '(root)', `${where}: ${field ? `${field}: ` : ''}${message}`, {
    details: { file, ...(pos ? { line: pos.line, column: pos.col } : {}) },
  });
}

type YamlDoc = ReturnType<typeof parseDocument>;

/** Position of the node at `path` (or of its key, or the closest existing ancestor). */
function positionOf(
  doc: YamlDoc,
  lc: LineCounter,
  path: readonly PropertyKey[],
): { line: number; col: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lineOf(lc, node.range[0]);
  }
  return undefined;
}

function issueField(issue: z.core.$ZodIssue): { path: PropertyKey[]; field: string } {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0]].join('.');
    return { path, field };
  }
  return { path, field: path.join('.') };
}

export function loadPolicy(yamlText: string, fileName: string): Policy {
  const lc = new LineCounter();
  const doc = parseDocument(yamlText, {
    lineCounter: lc,
    uniqueKeys: true,
    merge: false,
    prettyErrors: false,
  });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    fail(fileName, lineOf(lc, e.pos[0]), '', `not valid YAML: ${e.message.split('\n')[0]}`, 'POLICY_YAML');
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 50 });
  } catch (cause) {
    fail(
      fileName,
      undefined,
      '',
      `cannot read YAML: ${cause instanceof Error ? cause.message : String(cause)}`,
      'POLICY_YAML',
    );
  }
  return fromParsed(raw, fileName, (path) => positionOf(doc, lc, path));
}

/**
 * Loads a policy that arrives as a JSON value (a trust bundle carries the normalised document):
 * the same schema, checks and digest as the YAML path, so `policyFromDocument(p.document).digest
 * === p.digest`. Errors name the field (no line numbers: there is no source text).
 */
export function policyFromDocument(value: unknown, source: string): Policy {
  return fromParsed(value, source, () => undefined);
}

function fromParsed(
  raw: unknown,
  fileName: string,
  position: (path: readonly PropertyKey[]) => { line: number; col: number } | undefined,
): Policy {
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const { path, field } = issueField(issue);
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
    fail(fileName, position(path), field, message);
  }
  const document = parsed.data;
  const at = (path: PropertyKey[], message: string): never =>
    fail(fileName, position(path), path.join('.'), message);
  checkSemantics(document, at);
  const { $schema: _hint, ...normalised } = document;
  const digest = policyDigest(normalised as PolicyDocument);
  let compiled: CompiledPolicy;
  try {
    compiled = compilePolicy(normalised as PolicyDocument);
  } catch (e) {
    if (e instanceof CustosError) fail(fileName, undefined, '', e.shortMessage);
    throw e;
  }
  return Object.freeze({ document: normalised as PolicyDocument, digest, compiled });
}

function tryOr(at: (path: PropertyKey[], msg: string) => never, path: PropertyKey[], fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof CustosError) at(path, e.shortMessage);
    throw e;
  }
}

/** Checks the schema cannot express: unique names, known groups, valid CAIP ids and time zones. */
function checkSemantics(d: PolicyDocument, at: (path: PropertyKey[], msg: string) => never): void {
  for (const id of Object.keys(d.assets)) {
    tryOr(at, ['assets', id], () => parseAssetId(id, `assets.${id}`));
  }
  const seen = new Set<string>();
  d.rules.forEach((r, i) => {
    if (seen.has(r.name)) at(['rules', i, 'name'], `duplicate rule name ${r.name}`);
    seen.add(r.name);
    const w = r.when;
    w.chain?.forEach((c, j) => {
      tryOr(at, ['rules', i, 'when', 'chain', j], () => parseChainId(c));
    });
    w.asset?.forEach((a, j) => {
      if (a.includes(':')) tryOr(at, ['rules', i, 'when', 'asset', j], () => parseAssetId(a));
    });
    if (w.schedule)
      tryOr(at, ['rules', i, 'when', 'schedule', 'timezone'], () =>
        checkTimezone(w.schedule!.timezone, 'timezone'),
      );
    if (r.approve && d.groups) {
      r.approve.from.forEach((g, j) => {
        if (!d.groups![g]) at(['rules', i, 'approve', 'from', j], `unknown approver group ${g}`);
      });
    }
  });
  const seenLimits = new Set<string>();
  d.limits.forEach((l, i) => {
    if (seenLimits.has(l.name)) at(['limits', i, 'name'], `duplicate limit name ${l.name}`);
    seenLimits.add(l.name);
    l.match.chain?.forEach((c, j) => {
      tryOr(at, ['limits', i, 'match', 'chain', j], () => parseChainId(c));
    });
    l.match.asset?.forEach((a, j) => {
      if (a.includes(':')) tryOr(at, ['limits', i, 'match', 'asset', j], () => parseAssetId(a));
    });
    if (typeof l.onExceed === 'object' && d.groups) {
      l.onExceed.approve.from.forEach((g, j) => {
        if (!d.groups![g]) at(['limits', i, 'onExceed', 'approve', 'from', j], `unknown approver group ${g}`);
      });
    }
  });
}
