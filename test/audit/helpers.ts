import type { AuditRecord } from '../../src/core/audit/index.ts';
import { ed25519CheckpointSigner, generateEd25519Seed } from '../../src/store/audit-signer.ts';
import type { Queryable } from '../../src/store/db.ts';

/** A deterministic test clock: a new millisecond on every call. */
export function testClock(start = Date.UTC(2026, 10, 25, 9, 0, 0)): () => string {
  let t = start;
  return () => new Date(t++).toISOString();
}

export function testSigner() {
  const { seed } = generateEd25519Seed();
  return ed25519CheckpointSigner(seed);
}

export function sampleEntry(i: number) {
  return {
    kind: 'intent.created',
    actor: `svc-${i % 7}`,
    subject: `intent-${i}`,
    body: { amount: String(1000 + i), note: i % 3 === 0 ? 'héllo "quoted" \u2028' : null, n: i },
  };
}

/**
 * Direct SQL as superuser with the append-only triggers off for this transaction only
 * (session_replication_role = replica skips ordinary triggers): what an attacker with database
 * access can do.
 */
export async function tamper(
  db: { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  steps: Array<[string, unknown[]?]>,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL session_replication_role = replica');
    for (const [sql, params] of steps) await tx.query(sql, params ?? []);
  });
}

export function rowToRecord(r: Record<string, unknown>): AuditRecord {
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
