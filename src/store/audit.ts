import { open } from 'node:fs/promises';
import {
  type AuditCheckpoint,
  type AuditEntryInput,
  type AuditRecord,
  AuditVerifier,
  type AuditVerifyResult,
  type CheckpointSigner,
  chainEntries,
  checkpointPayload,
  prepareEntry,
} from '../core/audit/index.ts';
import { InvalidInputError } from '../core/errors/base.ts';
import { AUDIT_SQL, checkpointFromRow, entryFromRow, exportLines } from './audit-sql.ts';
import { advisoryXactLock, type Db, LOCKS, type Queryable } from './db.ts';
import type { StagedAuditRows } from './workflow/audit-port.ts';

export interface AuditLogOptions {
  /** The clock: an RFC 3339 UTC timestamp (`new Date().toISOString()` in production). */
  now: () => string;
  /** The node key; without it no checkpoints are written. */
  signer?: CheckpointSigner;
  /** Sign a checkpoint whenever the chain crosses a multiple of N entries (0 = only on demand). */
  checkpointEvery?: number;
  /** Most entries written in one group-commit transaction. */
  maxBatch?: number;
  /** Called when a background seal fails (it is retried on the next round). */
  onSealError?: (e: unknown) => void;
  /**
   * Whether this process's own stages start a seal a few ms later (default true). An API-only
   * coordinator sets false: the workflow processes, which stage entries on every transition batch,
   * chain its staged entries with theirs, so a submit costs the API tier no sealer statements;
   * the idle look of {@link AuditLog.startSealer} (every second) and readers, who seal first,
   * still cover a deployment with no workflow process running.
   */
  sealOnStage?: boolean;
}

/** How often the sealer looks for staged entries nobody poked it about (crashed writers, other processes). */
const SEAL_IDLE_MS = 1000;
/** How long after the last staged entry the sealer keeps looking every few milliseconds. */
const SEAL_HOT_MS = 1000;
/** Longest pause between looks while hot and finding nothing (doubling from SEAL_COALESCE_MS). */
const SEAL_HOT_MAX_INTERVAL_MS = 200;
/**
 * While entries keep being staged, background seal rounds start at most this often: every round is
 * a look, a locked transaction and a commit whatever its size (at 100 withdrawals/s, rounds paced
 * by the stages were ~0.6 seal commits per withdrawal). Readers seal first and are not paced, so
 * they still see every committed entry at once.
 */
const SEAL_BUSY_INTERVAL_MS = 100;
/** After a stage, how long the sealer waits so that concurrent stagers share a seal. */
const SEAL_COALESCE_MS = 10;

interface Waiter {
  entry: ReturnType<typeof prepareEntry>;
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
}

/**
 * The tamper-evident audit log (invariant I5) on PostgreSQL or PGlite.
 *
 * Appends never fork the chain: every writer reads the head and inserts under the transaction-scoped
 * advisory lock `LOCKS.auditAppend`, so writers in other processes (other coordinators on the same
 * PostgreSQL) queue behind it. Inside one process, concurrent `append()` calls are grouped: while a
 * batch is being committed, new calls wait and then go together in the next transaction (group
 * commit), so one lock round-trip and one fsync pay for many entries and hashing costs nothing
 * extra in latency.
 */
export class AuditLog {
  private readonly queue: Waiter[] = [];
  private flushing = false;
  private readonly maxBatch: number;
  /** The head after this process's last committed group (undefined = unknown, read it). */
  private cachedHead: { seq: number; hash: string } | null | undefined = undefined;
  private readonly checkpointEvery: number;
  private sealing: Promise<number> | undefined;
  private hotUntil = 0;
  private hotTimer: NodeJS.Timeout | undefined;
  /** When the last background seal round started (performance.now()). */
  private lastRoundAt = Number.NEGATIVE_INFINITY;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly options: AuditLogOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.checkpointEvery = options.checkpointEvery ?? 0;
    if (this.checkpointEvery > 0 && !options.signer) {
      throw new InvalidInputError('AUDIT_NO_SIGNER', 'signer', 'checkpointEvery needs a checkpoint signer');
    }
  }

  /** Appends one entry (group-committed with concurrent calls) and resolves once it is durable. */
  append(entry: AuditEntryInput): Promise<AuditRecord> {
    let prepared: ReturnType<typeof prepareEntry>;
    try {
      prepared = prepareEntry(entry);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ entry: prepared, resolve, reject });
      if (!this.flushing) void this.drain();
    });
  }

  /**
   * Appends entries inside the caller's transaction, so a state change and its audit entry commit
   * (or roll back) together. Takes the append lock until the caller's transaction ends: keep that
   * transaction short. On PGlite do not await `append()` from inside `db.transaction()`.
   */
  async appendInTx(tx: Queryable, entries: AuditEntryInput[]): Promise<AuditRecord[]> {
    return this.appendPrepared(tx, entries.map(prepareEntry));
  }

  /**
   * Stages entries inside the caller's transaction (the workflow's hot path): they commit or roll
   * back with the caller's state change, like {@link appendInTx}, but without taking the append
   * lock, and the sealer chains them shortly after (migration 0003 explains the trade-off).
   * Readers (`head`, `verify`, `export`) seal first, so they never miss a committed entry.
   */
  async stageInTx(tx: Queryable, entries: AuditEntryInput[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = this.stageRows(entries);
    await tx.query(AUDIT_SQL.stageMany, [rows.kind, rows.actor, rows.subject, rows.body]);
    this.sealSoon();
  }

  /**
   * The rows {@link stageInTx} would insert, for a caller that writes them into `audit_inbox` in
   * its own statement (the intent-creating statement does, to stay one round trip). Same checks.
   */
  stageRows(entries: AuditEntryInput[]): StagedAuditRows {
    const prepared = entries.map(prepareEntry);
    return {
      kind: prepared.map((e) => e.kind),
      actor: prepared.map((e) => e.actor),
      subject: prepared.map((e) => e.subject),
      body: prepared.map((e) => e.body),
    };
  }

  /** Rows from {@link stageRows} were written and committed: seal them soon. */
  staged(): void {
    this.sealSoon(true);
  }

  /**
   * Chains every committed staged entry into the log, oldest first, in batches of `maxBatch`.
   * Concurrent calls share one run; returns how many entries this run sealed.
   */
  sealPending(): Promise<number> {
    if (this.sealing) return this.sealing.then(() => this.sealPending());
    const run = (async () => {
      let total = 0;
      for (;;) {
        const n = await this.sealBatch();
        total += n;
        if (n < this.maxBatch) return total;
      }
    })();
    this.sealing = run.finally(() => {
      this.sealing = undefined;
    });
    return this.sealing;
  }

  /**
   * Readers seal first so they see every committed entry; a reader without write access (an
   * auditor's read-only role) still reads the sealed chain, which is all it can verify anyway.
   */
  private async sealForReaders(): Promise<void> {
    await this.sealPending().catch((e) => this.options.onSealError?.(e));
  }

  /** Background sealing: at start, every second, and every few ms while entries are being staged. */
  startSealer(): void {
    this.closed = false;
    if (this.idleTimer) return;
    this.idleTimer = setInterval(() => this.sealInBackground(), SEAL_IDLE_MS);
    this.idleTimer.unref();
    this.sealInBackground();
  }

  /** Stops the background sealer and seals what is left. */
  async stopSealer(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    clearTimeout(this.hotTimer);
    this.idleTimer = undefined;
    this.hotTimer = undefined;
    await this.sealPending().catch((e) => this.options.onSealError?.(e));
  }

  /**
   * `committed`: the rows are already committed (stageRows + staged): no need to keep looking for
   * them, and waiting a few ms lets entries staged meanwhile share one seal transaction.
   */
  private sealSoon(committed = false): void {
    if (this.options.sealOnStage === false) return;
    if (!committed) this.hotUntil = Date.now() + SEAL_HOT_MS;
    if (this.hotTimer || this.closed) return;
    let idle = SEAL_COALESCE_MS;
    const tick = () => {
      this.hotTimer = undefined;
      this.lastRoundAt = performance.now();
      void this.sealPending()
        .catch((e) => this.options.onSealError?.(e))
        .then((n) => {
          // The stager's transaction may not have committed yet: keep looking while it is hot, less
          // and less often while nothing turns up (an empty look is a statement too).
          if (this.closed || (!n && Date.now() >= this.hotUntil)) return;
          // A stage meanwhile may have scheduled the next round already.
          if (this.hotTimer) return;
          idle = n ? SEAL_COALESCE_MS : Math.min(idle * 2, SEAL_HOT_MAX_INTERVAL_MS);
          this.hotTimer = setTimeout(tick, n ? this.untilNextRound() : idle);
          this.hotTimer.unref();
        });
    };
    this.hotTimer = setTimeout(tick, Math.max(SEAL_COALESCE_MS, this.untilNextRound()));
    this.hotTimer.unref();
  }

  /** How long until a background round may start (at most one per SEAL_BUSY_INTERVAL_MS). */
  private untilNextRound(): number {
    return Math.max(0, this.lastRoundAt + SEAL_BUSY_INTERVAL_MS - performance.now());
  }

  private sealInBackground(): void {
    if (this.closed) return;
    void this.sealPending().catch((e) => this.options.onSealError?.(e));
  }

  private async sealBatch(): Promise<number> {
    // An empty inbox costs one statement, not a locked transaction (the hot sealer polls every few
    // ms). Read committed: every entry committed before this statement is seen, so readers, who
    // seal first, still never miss one; a later one is the next round's.
    const first = await this.db.query<{ id: string }>(AUDIT_SQL.firstStaged);
    if (first.rows.length === 0) return 0;
    const recs = await this.db.transaction(async (tx) => {
      // Lock first: a second sealer then reads the inbox only after the first one's delete committed.
      await advisoryXactLock(tx, LOCKS.auditAppend);
      const { rows } = await tx.query<{
        id: string;
        kind: string;
        actor: string;
        subject: string;
        body: string;
      }>(AUDIT_SQL.stagedBatch, [this.maxBatch]);
      if (rows.length === 0) return [];
      const out = await this.appendPrepared(tx, rows);
      await tx.query(AUDIT_SQL.unstage, [rows.map((r) => r.id)]);
      return out;
    });
    if (recs.length > 0) {
      const last = recs[recs.length - 1]!;
      this.cachedHead = { seq: last.seq, hash: last.hash };
    }
    return recs.length;
  }

  /** Signs a checkpoint of the current head now (no-op if the head already has one). */
  async checkpoint(): Promise<AuditCheckpoint | null> {
    const signer = this.options.signer;
    if (!signer) throw new InvalidInputError('AUDIT_NO_SIGNER', 'signer', 'no checkpoint signer configured');
    return this.db.transaction(async (tx) => {
      await advisoryXactLock(tx, LOCKS.auditAppend);
      const head = await readHead(tx);
      if (!head) return null;
      const existing = await tx.query(AUDIT_SQL.checkpointAt, [head.seq]);
      if (existing.rows.length > 0) return checkpointFromRow(existing.rows[0]!);
      return this.writeCheckpoint(tx, signer, head);
    });
  }

  async head(): Promise<{ seq: number; hash: string } | null> {
    await this.sealForReaders();
    return readHead(this.db);
  }

  /**
   * Verifies the whole log in the database, streaming it in pages of `pageSize` entries. Checkpoints
   * are read first, so entries appended during the scan cannot look like a truncation.
   */
  async verify(opts: { trustedKeys: Iterable<string>; pageSize?: number }): Promise<AuditVerifyResult> {
    await this.sealForReaders();
    const pageSize = opts.pageSize ?? 10_000;
    const cps = (await this.db.query(AUDIT_SQL.allCheckpoints)).rows.map(checkpointFromRow);
    const v = new AuditVerifier(cps, opts.trustedKeys);
    let after = 0;
    for (;;) {
      const { rows } = await this.db.query(AUDIT_SQL.page, [after, pageSize]);
      for (const row of rows) {
        v.push(entryFromRow(row));
        if (v.done) return v.finish();
      }
      if (rows.length < pageSize) break;
      after = Number(rows[rows.length - 1]!.seq);
    }
    return v.finish();
  }

  /** Writes the log as NDJSON (header, entries, each checkpoint after its entry) up to the current head. */
  async export(
    path: string,
    opts: { pageSize?: number } = {},
  ): Promise<{ entries: number; checkpoints: number }> {
    const pageSize = opts.pageSize ?? 10_000;
    await this.sealForReaders();
    const head = await readHead(this.db);
    const upTo = head?.seq ?? 0;
    const cps = (await this.db.query(AUDIT_SQL.checkpointsUpTo, [upTo])).rows.map(checkpointFromRow);
    const fh = await open(path, 'wx', 0o600);
    let entries = 0;
    try {
      await fh.write(`${JSON.stringify({ type: 'custos-audit-export', version: 1 })}\n`);
      let after = 0;
      let ci = 0;
      while (after < upTo) {
        const { rows } = await this.db.query(AUDIT_SQL.pageUpTo, [after, upTo, pageSize]);
        if (rows.length === 0) break;
        const page = rows.map(entryFromRow);
        const { text, nextCheckpoint } = exportLines(page, cps, ci);
        ci = nextCheckpoint;
        await fh.write(text);
        entries += page.length;
        after = page[page.length - 1]!.seq;
      }
      // Checkpoints whose entry is missing from the table still go out (the verifier reports it).
      if (ci < cps.length) await fh.write(exportLines([], cps, ci).text);
    } finally {
      await fh.close();
    }
    return { entries, checkpoints: cps.length };
  }

  private async drain(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // Let every writer resolved by the previous commit enqueue its next entry first; otherwise
        // the first one would go alone and batches would alternate 1, n-1, 1, n-1…
        await new Promise<void>((r) => setImmediate(r));
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const entries = batch.map((w) => w.entry);
          const recs =
            (await this.tryFastAppend(entries)) ??
            (await this.db.transaction((tx) => this.appendPrepared(tx, entries)));
          const last = recs[recs.length - 1]!;
          this.cachedHead = { seq: last.seq, hash: last.hash };
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(recs[i]!);
        } catch (e) {
          this.cachedHead = undefined;
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * One round trip: `custos_audit_append` takes the lock, checks the head is still the one this
   * process last wrote, and inserts (see migration 0002). Returns null — nothing written — when the
   * head is unknown or moved, or when a checkpoint is due (signing needs the full transaction).
   */
  private async tryFastAppend(entries: ReturnType<typeof prepareEntry>[]): Promise<AuditRecord[] | null> {
    const head = this.cachedHead;
    if (head === undefined) return null;
    const n = this.checkpointEvery;
    const lastSeq = (head?.seq ?? 0) + entries.length;
    if (n > 0 && Math.floor(lastSeq / n) > Math.floor((head?.seq ?? 0) / n)) return null;
    const recs = chainEntries(head, this.options.now(), entries);
    const { rows } = await this.db.query<{ ok: boolean }>(AUDIT_SQL.appendFn, [
      LOCKS.auditAppend.toString(),
      head?.hash ?? null,
      ...insertParams(recs),
    ]);
    return rows[0]?.ok === true ? recs : null;
  }

  private async appendPrepared(
    tx: Queryable,
    entries: ReturnType<typeof prepareEntry>[],
  ): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    // The lock is its own statement: in READ COMMITTED a statement's snapshot is taken when it
    // starts, so only a statement issued after the lock is granted sees the latest head.
    await advisoryXactLock(tx, LOCKS.auditAppend);
    const at = this.options.now();
    // Fast path: chain onto the head this process last wrote and insert only if it is still the
    // head (one round trip instead of two). Another process may have appended since: then read the
    // head and chain again. Either way the lock is held, so nobody can move the head meanwhile.
    const cached = this.cachedHead;
    let head: { seq: number; hash: string } | null = null;
    let recs: AuditRecord[] | null = null;
    if (cached !== undefined) {
      const tentative = chainEntries(cached, at, entries);
      const r = await tx.query(AUDIT_SQL.insertManyIfHead, [
        ...insertParams(tentative),
        cached?.hash ?? null,
      ]);
      if (r.rowCount > 0) {
        head = cached;
        recs = tentative;
      }
    }
    if (!recs) {
      head = await readHead(tx);
      recs = chainEntries(head, at, entries);
      await tx.query(AUDIT_SQL.insertMany, insertParams(recs));
    }
    const last = recs[recs.length - 1]!;
    const n = this.checkpointEvery;
    if (n > 0 && Math.floor(last.seq / n) > Math.floor((head?.seq ?? 0) / n)) {
      // Checkpoint the highest multiple of N in this batch, so checkpoints sit at N, 2N, 3N…
      const cpSeq = Math.floor(last.seq / n) * n;
      await this.writeCheckpoint(tx, this.options.signer!, recs[cpSeq - recs[0]!.seq]!);
    }
    return recs;
  }

  private async writeCheckpoint(
    tx: Queryable,
    signer: CheckpointSigner,
    head: { seq: number; hash: string },
  ): Promise<AuditCheckpoint> {
    const at = this.options.now();
    const sig = signer.sign(checkpointPayload({ seq: head.seq, hash: head.hash, at }));
    const cp: AuditCheckpoint = {
      seq: head.seq,
      hash: head.hash,
      at,
      keyId: signer.keyId,
      signature: Buffer.from(sig).toString('hex'),
    };
    await tx.query(AUDIT_SQL.insertCheckpoint, [cp.seq, cp.hash, cp.at, cp.keyId, cp.signature]);
    return cp;
  }
}

function insertParams(recs: AuditRecord[]): unknown[] {
  return [
    recs.map((r) => r.seq),
    recs.map((r) => r.at),
    recs.map((r) => r.kind),
    recs.map((r) => r.actor),
    recs.map((r) => r.subject),
    recs.map((r) => r.body),
    recs.map((r) => r.prevHash),
    recs.map((r) => r.hash),
  ];
}

async function readHead(q: Queryable): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await q.query<{ seq: number | string; hash: string }>(AUDIT_SQL.head);
  const r = rows[0];
  return r ? { seq: Number(r.seq), hash: r.hash } : null;
}
