import type { AuditCheckpoint, AuditRecord } from '../core/audit/index.ts';

/** Every SQL statement of the audit store, in one reviewable place; values are bound parameters. */
export const AUDIT_SQL = {
  head: 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  insertMany: `INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`,
  /** Inserts only if $9 is still the head hash (NULL: the log is empty); rowCount 0 otherwise. */
  insertManyIfHead: `INSERT INTO audit_log (seq, at, kind, actor, subject, body, prev_hash, hash)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    WHERE (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) IS NOT DISTINCT FROM $9::text`,
  /** One-round-trip group commit (migration 0002); $1 lock key, $2 expected head hash or NULL. */
  appendFn: 'SELECT custos_audit_append($1::bigint, $2::text, $3, $4, $5, $6, $7, $8, $9, $10) AS ok',
  /** Staged entries (migration 0003), written in the caller's transaction. */
  stageMany: `INSERT INTO audit_inbox (kind, actor, subject, body)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`,
  // The oldest staged id through the primary key, not EXISTS (a sequential scan that reads every
  // page of rows the sealer deleted until vacuum, on every look).
  firstStaged: 'SELECT id FROM audit_inbox ORDER BY id LIMIT 1',
  stagedBatch: 'SELECT id, kind, actor, subject, body FROM audit_inbox ORDER BY id LIMIT $1',
  unstage: 'DELETE FROM audit_inbox WHERE id = ANY($1::bigint[])',
  insertCheckpoint:
    'INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)',
  checkpointAt: 'SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq = $1',
  allCheckpoints: 'SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq',
  checkpointsUpTo:
    'SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq <= $1 ORDER BY seq',
  page: `SELECT seq, at, kind, actor, subject, body, prev_hash, hash FROM audit_log
    WHERE seq > $1 ORDER BY seq LIMIT $2`,
  pageUpTo: `SELECT seq, at, kind, actor, subject, body, prev_hash, hash FROM audit_log
    WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
} as const;

type Row = Record<string, unknown>;

export function entryFromRow(r: Row): AuditRecord {
  return {
    seq: Number(r.seq),
    at: r.at as string,
    kind: r.kind as string,
    actor: r.actor as string,
    subject: r.subject as string,
    body: r.body as string,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
  };
}

export function checkpointFromRow(r: Row): AuditCheckpoint {
  return {
    seq: Number(r.seq),
    hash: r.hash as string,
    at: r.at as string,
    keyId: r.key_id as string,
    signature: r.signature as string,
  };
}

/**
 * NDJSON lines for a page of entries, each checkpoint right after the entry it covers (checkpoints
 * sorted by seq, consumed from index `from`). With an empty page, emits the remaining checkpoints.
 */
export function exportLines(
  page: AuditRecord[],
  cps: AuditCheckpoint[],
  from: number,
): { text: string; nextCheckpoint: number } {
  let ci = from;
  const lines: string[] = [];
  for (const e of page) {
    while (ci < cps.length && cps[ci]!.seq < e.seq) lines.push(cpLine(cps[ci++]!));
    lines.push(JSON.stringify({ type: 'entry', ...e }));
    while (ci < cps.length && cps[ci]!.seq === e.seq) lines.push(cpLine(cps[ci++]!));
  }
  if (page.length === 0) while (ci < cps.length) lines.push(cpLine(cps[ci++]!));
  return { text: lines.length ? `${lines.join('\n')}\n` : '', nextCheckpoint: ci };
}

function cpLine(c: AuditCheckpoint): string {
  return JSON.stringify({ type: 'checkpoint', ...c });
}
