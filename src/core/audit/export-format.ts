import { z } from 'zod';
import { parseStrictJson } from '../encoding/strict-json.ts';
import { InvalidInputError } from '../errors/base.ts';
import type { AuditCheckpoint } from './checkpoint.ts';
import type { AuditRecord } from './entry.ts';

/**
 * The NDJSON export (`custos audit export`): a header line, then one line per entry and one per
 * checkpoint (after the entry it covers). Entry lines carry `body` as the stored canonical JSON
 * text (a string), exactly as hashed. Parsed strictly: unknown fields, duplicate keys and a
 * missing header are bad input (exit 2), distinct from a log that fails verification (exit 1).
 */
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));

const headerSchema = z.object({ type: z.literal('custos-audit-export'), version: z.literal(1) }).strict();
const entrySchema = z
  .object({
    type: z.literal('entry'),
    seq,
    at: z.string(),
    kind: z.string(),
    actor: z.string(),
    subject: z.string(),
    body: z.string(),
    // Not hex-checked: a tampered value is a verification failure, not a parse error.
    prevHash: z.string(),
    hash: z.string(),
  })
  .strict();
const checkpointSchema = z
  .object({
    type: z.literal('checkpoint'),
    seq,
    hash: z.string(),
    at: z.string(),
    keyId: hex(64),
    signature: hex(128),
  })
  .strict();

export function parseAuditExport(text: string): { entries: AuditRecord[]; checkpoints: AuditCheckpoint[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new InvalidInputError('AUDIT_EXPORT_EMPTY', 'line 1', 'empty export file');
  const parseLine = (i: number) => parseStrictJson(lines[i]!, `line ${i + 1}`);
  if (!headerSchema.safeParse(parseLine(0)).success) {
    throw new InvalidInputError(
      'AUDIT_EXPORT_HEADER',
      'line 1',
      'not a Custos audit export (header missing)',
    );
  }
  const entries: AuditRecord[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  for (let i = 1; i < lines.length; i++) {
    const v = parseLine(i) as { type?: unknown };
    const schema = v?.type === 'entry' ? entrySchema : v?.type === 'checkpoint' ? checkpointSchema : null;
    const r = schema?.safeParse(v);
    if (!r?.success) {
      const issue = r?.error.issues[0];
      const field = `line ${i + 1}${issue?.path.length ? `: ${issue.path.join('.')}` : ''}`;
      throw new InvalidInputError(
        'AUDIT_EXPORT_LINE',
        field,
        `${field}: ${issue?.message ?? 'unknown line type'}`,
      );
    }
    const { type, ...rest } = r.data;
    if (type === 'entry') entries.push(rest as AuditRecord);
    else checkpoints.push(rest as AuditCheckpoint);
  }
  return { entries, checkpoints };
}
