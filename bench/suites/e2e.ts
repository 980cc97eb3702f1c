import { generateKeyPairSync, randomBytes, randomUUID, sign, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import pg from 'pg';
import * as libsecp256k1 from 'tiny-secp256k1';
import { ApiClient, demoIntent, requesterSignature } from '../../src/coordinator/local/client.ts';
import { demoPolicy } from '../../src/coordinator/local/demo-policy.ts';
import { type LocalDeployment, runLocal } from '../../src/coordinator/local/up.ts';
import { intentDigest, parseIntent } from '../../src/core/intent/index.ts';
import { evaluate } from '../../src/core/policy/evaluate.ts';
import { loadPolicy } from '../../src/core/policy/load.ts';
import { dropSchema } from '../../src/store/postgres.ts';
import { type BenchSuite, measureSync, type SuiteResult } from '../report.ts';

/**
 * End to end through the HTTP API on PostgreSQL: `custos up`'s deployment (anvil, coordinator and
 * two co-signers as separate processes) with many 2-of-3 Safes and the demo policy, whose
 * small-amount rule auto-approves.
 *
 *  - throughput: 300 intents/s offered, round-robin over the Safes (a Safe has one withdrawal in
 *    flight: co-signers sign only its current nonce), submit → both co-signer signatures, timed
 *    from the coordinator's own records (intent created_at → last signature settled), in several
 *    bursts (BENCH_E2E_BURSTS, default 4) judged on the last by its sustained rate (signatures per
 *    second: the slope of completions over time from the 10th to the 90th percentile; the whole
 *    burst's rate, which also counts the pipeline filling, beside it), and how busy the machine was;
 *  - submit latency at a fixed 100 intents/s (open loop) while the workflow runs;
 *  - CPU time per intent of each process (from /proc, anvil included; PostgreSQL with its exited
 *    server processes), checked against the machine's busy time, and RSS of each process;
 *  - the per-intent CPU of each stage measured alone in this process, beside the floor of the
 *    cryptographic operations alone.
 */
/** The fields of a /proc stat file after the command name (state is [0], ppid [1]). */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Clock ticks (USER_HZ, 100 on Linux) to ms. */
const ticksMs = (...ticks: string[]) => ticks.reduce((a, t) => a + Number(t), 0) * 10;

/** utime + stime of a /proc stat file, in ms. */
function statCpuMs(path: string): number {
  const f = statFields(path);
  return ticksMs(f[11]!, f[12]!);
}

/**
 * CPU time and RSS of a process and its descendants (anvil's npm launcher runs the binary as a
 * child), and the CPU time of the process's own main thread (for a Node process, what is not on
 * it is V8's compiler and GC threads and the libuv pool).
 */
function procStat(pid: number): { cpuMs: number; mainThreadCpuMs: number; rssMiB: number } {
  let cpuMs = 0;
  let rssKiB = 0;
  let mainThreadCpuMs = 0;
  try {
    mainThreadCpuMs = statCpuMs(`/proc/${pid}/task/${pid}/stat`);
  } catch {
    /* exited */
  }
  const visit = (p: number) => {
    try {
      cpuMs += statCpuMs(`/proc/${p}/stat`);
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) visit(Number(k));
    } catch {
      /* exited */
    }
  };
  visit(pid);
  return { cpuMs, mainThreadCpuMs, rssMiB: Math.round(rssKiB / 1024) };
}

/**
 * Sets the OS niceness of a process, every one of its threads (Linux keeps it per thread: a
 * runtime's helper threads would otherwise stay at the old priority) and its descendants — what
 * `Nice=` in a systemd unit does for a service from its start.
 */
function reniceTree(pid: number, nice: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      setPriority(Number(tid), nice);
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) reniceTree(Number(k), nice);
    } catch {
      /* exited */
    }
  }
}

const UNIX_SOCKET_DIR = '/var/run/postgresql';

/**
 * The same database over the server's Unix socket when it has one here: a query costs the client
 * about half the CPU of one over loopback TCP on this VM (see docs/coordinator.md, Submit path).
 */
function unixSocketUrl(url: string): string {
  const u = new URL(url);
  if (
    !['127.0.0.1', 'localhost'].includes(u.hostname) ||
    !existsSync(`${UNIX_SOCKET_DIR}/.s.PGSQL.${u.port || 5432}`)
  )
    return url;
  return `postgres://${u.username}@${u.pathname}?host=${UNIX_SOCKET_DIR}${u.port ? `&port=${u.port}` : ''}`;
}

/**
 * Samples the machine's CPU time (all cores, /proc/stat) every 50 ms, so a run can report how busy
 * the machine was between two instants: below 100 % the pipeline, not the CPU, set the pace
 * (waits between stages, round trips), and a cheaper step would not make the run faster.
 */
function machineCpuSampler() {
  const read = () => {
    // cpu  user nice system idle iowait irq softirq steal (guest time is inside user and nice).
    const f = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const busy = user + nice + system + irq + softirq;
    return { at: Date.now(), busy, total: busy + idle + iowait + steal };
  };
  const samples = [read()];
  const timer = setInterval(() => samples.push(read()), 50);
  timer.unref(); // a run that throws before stop() must not keep the bench alive
  const at = (t: number) =>
    samples.reduce((best, x) => (Math.abs(x.at - t) < Math.abs(best.at - t) ? x : best));
  return {
    stop(): void {
      clearInterval(timer);
      samples.push(read());
    },
    /**
     * Between two Date.now() instants (to the nearest sample): the fraction of all cores that was
     * busy, and the busy CPU time in ms summed over the cores (USER_HZ ticks of 10 ms).
     */
    between(fromMs: number, toMs: number): { fraction: number; busyMs: number } {
      const a = at(fromMs);
      const b = at(toMs);
      const fraction = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
      return { fraction, busyMs: ticksMs(String(b.busy - a.busy)) };
    },
  };
}

/**
 * CPU time of the PostgreSQL server on this machine, exited processes included: every live server
 * process (postmaster, backends, WAL writer, checkpointer…) plus the postmaster's reaped children
 * (a backend whose connection closed during a run — a pool trimming idle connections — would
 * otherwise take its CPU time out of the sum). The machine runs nothing else against it meanwhile.
 */
function postgresCpuMs(): number {
  let ms = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
      const f = statFields(`/proc/${d}/stat`);
      ms += ticksMs(f[11]!, f[12]!);
      // The postmaster (its parent is not a server process): add its waited-for children.
      if (readFileSync(`/proc/${f[1]}/comm`, 'utf8').trim() !== 'postgres') ms += ticksMs(f[13]!, f[14]!);
    } catch {
      /* exited */
    }
  }
  return ms;
}

/**
 * One connection for the bench's own observation queries, kept for the whole suite: a connection
 * per poll would start a server process every 250 ms and count its start-up as PostgreSQL's CPU
 * per intent.
 */
const observers = new Map<string, Promise<pg.Client>>();
function observer(databaseUrl: string): Promise<pg.Client> {
  let c = observers.get(databaseUrl);
  if (!c) {
    const client = new pg.Client({ connectionString: databaseUrl });
    c = client.connect().then(() => client);
    observers.set(databaseUrl, c);
  }
  return c;
}
async function closeObservers(): Promise<void> {
  const all = [...observers.values()];
  observers.clear();
  await Promise.all(all.map(async (c) => (await c).end().catch(() => undefined)));
}

/**
 * The server's write-ahead log and commit counters (cumulative, server-wide): what a run wrote
 * and how often a commit had to wait for a WAL flush. Submit latency's tail on this VM follows the
 * flushes (docs/coordinator.md "Bench"), so they are reported beside the latency.
 */
async function walCounters(databaseUrl: string): Promise<{
  bytes: number;
  records: number;
  syncs: number;
  commits: number;
  sessions: number;
  lsn: string;
}> {
  const c = await observer(databaseUrl);
  const { rows } = await c.query<{
    bytes: string;
    records: string;
    syncs: string;
    commits: string;
    sessions: string;
    lsn: string;
  }>(
    `SELECT w.wal_bytes::text AS bytes, w.wal_records::text AS records, w.wal_sync::text AS syncs,
            (SELECT sum(xact_commit)::text FROM pg_stat_database) AS commits,
            (SELECT sum(sessions)::text FROM pg_stat_database) AS sessions,
            pg_current_wal_insert_lsn()::text AS lsn
       FROM pg_stat_wal w`,
  );
  const r = rows[0]!;
  return {
    bytes: Number(r.bytes),
    records: Number(r.records),
    syncs: Number(r.syncs),
    commits: Number(r.commits),
    sessions: Number(r.sessions),
    lsn: r.lsn,
  };
}

/**
 * This VM's speed drifts (up to 1.5× between runs minutes apart, 2026-12-07), which swamps the
 * effect of most single changes on the CPU per intent. A fixed single-threaded workload — 300
 * strict parses + digests and 100 Ed25519 verifications, the coordinator's own per-submit work —
 * is timed (CPU, this process) right before each run, so that each run's CPU per intent can also be
 * read in units of it: a change shows as a lower ratio even when the machine was slower.
 */
const REF_KEY = generateKeyPairSync('ed25519');
const REF_INTENT = {
  version: 1,
  id: '7b0b0f7e-5f0a-4d6b-9c57-2f4f7c1e8a12',
  chain: 'eip155:31337',
  asset: 'eip155:31337/slip44:60',
  wallet: 'safe-1',
  destination: '0x5d5c99EdF529335160FF180fA141Dd4967fc00D2',
  amount: '10000000000000000',
  reference: 'reference workload',
  requestedBy: 'svc-backoffice',
  createdAt: '2026-03-01T10:00:00Z',
  expiresAt: '2026-03-01T11:00:00Z',
};
function referenceCpuMs(): number {
  const digest = intentDigest(parseIntent(REF_INTENT));
  const sig = sign(null, digest, REF_KEY.privateKey);
  let best = Number.POSITIVE_INFINITY;
  // The best of three: a descheduled moment inflates wall time, not CPU time, but be safe.
  for (let round = 0; round < 3; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < 300; i++) intentDigest(parseIntent(REF_INTENT));
    for (let i = 0; i < 100; i++)
      if (!verify(null, digest, REF_KEY.publicKey, sig)) throw new Error('reference');
    const d = process.cpuUsage(t0);
    best = Math.min(best, (d.user + d.system) / 1000);
  }
  return best;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

/**
 * Where an intent's time goes: per workflow event, the time since the intent's previous transition
 * (p50/p99 ms over `ids`), from the coordinator's own transition history.
 */
async function stageLatencies(
  databaseUrl: string,
  schema: string,
  ids: string[],
): Promise<Record<string, { p50: number; p99: number; n: number }>> {
  const c = await observer(databaseUrl);
  const { rows } = await c.query<{ event: string; p50: number; p99: number; n: string }>(
    `SELECT event, percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99, count(*) AS n
       FROM (SELECT event, extract(epoch FROM at - lag(at) OVER (PARTITION BY intent_id ORDER BY seq)) * 1000 AS d
               FROM ${checkedSchema(schema)}.wf_transitions WHERE intent_id = ANY($1::uuid[])) x
      WHERE d IS NOT NULL GROUP BY event`,
    [ids],
  );
  return Object.fromEntries(
    rows.map((r) => [r.event, { p50: Math.round(r.p50), p99: Math.round(r.p99), n: Number(r.n) }]),
  );
}

/**
 * Completions per second in the middle of a burst: the least-squares slope of the completion count
 * over time, from the 10th to the 90th percentile of the completions (ms). A slope rather than
 * count ÷ span: completions arrive in batches, and a batch landing at either end of the span would
 * move a two-point rate by a whole batch (in a 100-intent burst it read 341/s with 300/s offered).
 */
function sustainedRate(doneMs: number[]): number {
  const t = [...doneMs].sort((a, b) => a - b);
  const mid = t.slice(Math.floor(0.1 * t.length), Math.ceil(0.9 * t.length));
  const n = mid.length;
  if (n < 2) return 0;
  const meanT = mid.reduce((a, x) => a + x, 0) / n;
  const meanI = (n - 1) / 2;
  let cov = 0;
  let varT = 0;
  mid.forEach((x, i) => {
    cov += (x - meanT) * (i - meanI);
    varT += (x - meanT) ** 2;
  });
  return varT > 0 ? (cov / varT) * 1000 : 0;
}

/**
 * The bench's own reads of the coordinator's tables run while the pipeline is measured (the poll)
 * or right after it, on the same PostgreSQL whose CPU is counted per intent. Both are written as
 * one index lookup per intent (LATERAL subqueries on the primary keys): a join over `= ANY` of
 * hundreds of ids was planned as a hash join over the whole outbox (tables never analyzed, no
 * statistics), ~100 ms of server CPU per poll, counted as the pipeline's.
 */
const SIGNED_SQL = (schema: string) => `
  SELECT i.id, i.created_at, i.state, s.n, s.signed_at
    FROM unnest($1::uuid[]) AS u(id)
    JOIN LATERAL (SELECT id, created_at, state FROM ${schema}.wf_intents WHERE id = u.id) i ON true
    CROSS JOIN LATERAL (SELECT count(*) AS n, max(o.updated_at) AS signed_at FROM ${schema}.wf_outbox o
                         WHERE o.intent_id = u.id AND o.step LIKE 'sign:%' AND o.status = 'done') s`;
const FAILED_STATES = new Set(['failed', 'blocked', 'rejected', 'expired']);

/** An identifier cannot be a bound parameter: the schema name is checked instead. */
function checkedSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  return schema;
}

/** Per-intent time from submit (created_at) to the last of its co-signer signatures, from the coordinator's DB. */
async function signedTimes(
  databaseUrl: string,
  schema: string,
  ids: string[],
): Promise<{ signed: { createdMs: number; signedMs: number }[]; failed: number }> {
  const c = await observer(databaseUrl);
  const { rows } = await c.query<{ created_at: Date; state: string; n: string; signed_at: Date | null }>(
    SIGNED_SQL(checkedSchema(schema)),
    [ids],
  );
  return {
    signed: rows
      .filter((r) => Number(r.n) >= 2)
      .map((r) => ({ createdMs: r.created_at.getTime(), signedMs: r.signed_at!.getTime() })),
    failed: rows.filter((r) => FAILED_STATES.has(r.state)).length,
  };
}

/** Which of `ids` have both signatures or ended failed (the poll). */
async function settledIds(databaseUrl: string, schema: string, ids: string[]): Promise<Set<string>> {
  const c = await observer(databaseUrl);
  const { rows } = await c.query<{ id: string }>(
    `SELECT x.id FROM (${SIGNED_SQL(checkedSchema(schema))}) x WHERE x.n >= 2 OR x.state = ANY($2::text[])`,
    [ids, [...FAILED_STATES]],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * The load generator: bodies are built and signed BEFORE the clock starts (requesters are other
 * machines; signing here would steal the cores under test), then POSTed at `rate`/s, open loop,
 * over keep-alive HTTP/1.1 connections with node:http (fetch/undici costs several times its CPU
 * per request). Returns the ids, submit latencies, status codes and this process's CPU meanwhile.
 */
function prepareBodies(dep: LocalDeployment, total: number, tag: string) {
  const safes = dep.setup.safes;
  return Array.from({ length: total }, (_, i) => {
    const intent = demoIntent(dep.setup, { reference: `${tag} ${i}`, wallet: safes[i % safes.length]!.id });
    const body = JSON.stringify({ intent, signature: requesterSignature(dep.setup.requester, intent) });
    return { id: intent.id, body: Buffer.from(body) };
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function postRaw(base: URL, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'idempotency-key': randomUUID(),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function submitOpenLoop(dep: LocalDeployment, rate: number, total: number, tag: string) {
  const bodies = prepareBodies(dep, total, tag);
  const base = new URL(dep.setup.coordinatorUrl);
  const lat: number[] = [];
  const codes = new Map<number, number>();
  const pending: Promise<void>[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      postRaw(base, '/v1/intents', bodies[i]!.body).then(
        (status) => {
          lat.push((performance.now() - t0) * 1000);
          codes.set(status, (codes.get(status) ?? 0) + 1);
        },
        () => {
          codes.set(0, (codes.get(0) ?? 0) + 1);
        },
      ),
    );
  }
  await Promise.all(pending);
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return {
    ids: bodies.map((b) => b.id),
    n: total,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    codes: Object.fromEntries(codes),
    loadCpuMsPerIntent: (cpu.user + cpu.system) / 1000 / total,
  };
}

const suite: BenchSuite = {
  name: 'e2e',
  async run(ctx): Promise<SuiteResult> {
    const notes: string[] = [];
    const measurements: SuiteResult['measurements'] = [];
    if (!ctx.databaseUrl) {
      return {
        suite: 'e2e',
        measurements,
        notes: ['skipped: the e2e targets are on PostgreSQL (set DATABASE_URL)'],
      };
    }
    const databaseUrl = unixSocketUrl(ctx.databaseUrl);
    if (databaseUrl !== ctx.databaseUrl) notes.push(`PostgreSQL over its Unix socket (${UNIX_SOCKET_DIR})`);
    const dir = mkdtempSync(join(tmpdir(), 'custos-bench-e2e-'));
    const prefix = `bench_${randomBytes(3).toString('hex')}`;
    const coordinatorSchema = `${prefix}_coordinator`;
    // One Safe per intent of the throughput run: a Safe has one withdrawal in flight (co-signers sign
    // only its current nonce, I8), so the wallets, not Custos, would otherwise set the pace.
    // BENCH_E2E_SAFES=100 measures that wallet-bound case instead (six withdrawals per Safe in turn).
    const safes = Number(process.env.BENCH_E2E_SAFES ?? (ctx.quick ? 100 : 600));
    if (!Number.isInteger(safes) || safes < 1) throw new Error('BENCH_E2E_SAFES must be a positive integer');
    // A block per second while the load runs, as a real chain mines (Ethereum: 12 s; fast L2s:
    // 0.25–2 s). anvil's automine — a block per transaction — would make the chain's per-block work
    // (state root, the watchtower's block scan, receipts) a per-withdrawal cost no real chain has.
    // BENCH_E2E_BLOCK_SECONDS=0 measures automine instead.
    const blockSeconds = Number(process.env.BENCH_E2E_BLOCK_SECONDS ?? 1);
    if (!Number.isInteger(blockSeconds) || blockSeconds < 0)
      throw new Error('BENCH_E2E_BLOCK_SECONDS must be whole seconds ≥ 0');
    const dep = await runLocal({
      dir,
      fresh: true,
      databaseUrl,
      schemaPrefix: prefix,
      safes,
      bitcoin: false,
      blockSeconds,
      // The coordinator as an API process and a workflow process (roles api / workflow): on two
      // cores, submits are then not queued behind workflow batches on one event loop.
      workflowProcess: true,
      scrypt: { N: 1024, r: 8, p: 1 },
      coordinatorExtra: {
        worker: { batch: 64 },
        api: { rateLimit: { perSecond: 100_000, burst: 100_000 }, readTokens: [] },
      },
    });
    notes.push(
      `coordinator and co-signers on PostgreSQL; wallets: ${safes} 2-of-3 Safes 1.4.1 on anvil (one withdrawal in flight per Safe: co-signers sign only its current nonce, I8), intents round-robin over them; ${blockSeconds ? `anvil mines a block every ${blockSeconds} s` : 'anvil automines (a block per transaction)'}; demo policy auto-approves (allow-small-eth); co-signers: 2 processes, file keystores (libsecp256k1 signing)`,
    );
    try {
      const api = new ApiClient(dep.setup.coordinatorUrl);
      const pids = {
        'coordinator (API)': dep.coordinator.proc.pid!,
        'coordinator (workflow)': dep.workflow!.proc.pid!,
        'cosigner-a': dep.cosigners[0]!.proc.pid!,
        'cosigner-b': dep.cosigners[1]!.proc.pid!,
        anvil: dep.anvil.proc.pid!,
      };
      // Waits until every intent is signed or failed, or the deadline; the per-intent times are
      // read after, outside any CPU window (`signed`). Each poll asks only about the intents not
      // yet settled (one index lookup each, a few µs of server CPU): the first poll of a burst
      // asked about all of them for ~19 ms of PostgreSQL's CPU, the later ones about fewer.
      const waitSettled = async (ids: string[], deadlineMs: number) => {
        const end = performance.now() + deadlineMs;
        let pending = ids;
        for (;;) {
          const done = await settledIds(databaseUrl, coordinatorSchema, pending);
          pending = pending.filter((id) => !done.has(id));
          if (pending.length === 0 || performance.now() > end) return;
          await new Promise((res) => setTimeout(res, 250));
        }
      };
      const signed = (ids: string[]) => signedTimes(databaseUrl, coordinatorSchema, ids);

      // 0. Warm-up: one withdrawal on a tenth of the Safes (JIT, connection pools, caches).
      const warm = await submitOpenLoop(dep, 50, Math.max(4, Math.floor(safes / 10)), 'bench warm-up');
      await waitSettled(warm.ids, 60_000);

      // 1. Throughput: 300 intents/s offered for a few seconds; submit → both co-signer signatures.
      // Several bursts on the same Safes (each burst takes every Safe's next nonce, once the
      // previous one's withdrawals are confirmed). The first is what a freshly started deployment
      // does: code still being compiled, PostgreSQL's caches cold. The V8 compiler keeps working
      // through the next ones (a perf profile of the second burst had the API's and workflow's
      // background compiler threads at ~35 % of their CPU; after three it was mostly gone), so the
      // target is judged on the last: the service as it runs for days, which is what a sustained
      // rate describes. The ones between are reported by their rate and CPU total only.
      const offered = 300;
      const total = ctx.quick ? 100 : 600;
      const bursts = ctx.quick ? 2 : Number(process.env.BENCH_E2E_BURSTS ?? 4);
      const settleMs = ctx.quick ? 2000 : 8000;
      const throughput = async (label: string, tag: string, last: boolean, detailed: boolean) => {
        const refBurst = referenceCpuMs();
        const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStat(p)]));
        const pgBefore = postgresCpuMs();
        const walBurst = await walCounters(databaseUrl);
        const machine = machineCpuSampler();
        const t0 = Date.now();
        const run = await submitOpenLoop(dep, offered, total, tag);
        await waitSettled(run.ids, 120_000);
        const after = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStat(p)]));
        const pgMs = postgresCpuMs() - pgBefore;
        const tAfter = Date.now();
        machine.stop();
        const walBurstAfter = await walCounters(databaseUrl);
        const res = await signed(run.ids);
        const lastSigned = Math.max(...res.signed.map((x) => x.signedMs));
        // Over the whole burst (first submit → last signature) the rate also counts the pipeline
        // filling and draining: with ~0.5 s from submit to signatures, 600 intents at 300/s could
        // not show more than ~240/s however fast the pipeline. The throughput is the sustained one
        // (sustainedRate): the offered rate while the pipeline keeps up, its capacity when a
        // backlog builds.
        const wholeBurst = res.signed.length / ((lastSigned - t0) / 1000);
        const rate = sustainedRate(res.signed.map((x) => x.signedMs));
        const busy = machine.between(t0, lastSigned).fraction;
        // Self-check of the per-process accounting below: the processes' CPU (and this load
        // generator's) against the machine's busy time over the same window.
        const machineMs = machine.between(t0, tAfter).busyMs;
        const lat = res.signed.map((x) => (x.signedMs - x.createdMs) * 1000).sort((a, b) => a - b);
        measurements.push({
          name: `submit → both co-signer signatures, ${offered}/s offered over ${safes} Safes, ${label}`,
          opsPerSec: rate,
          p50Us: pct(lat, 0.5),
          p99Us: pct(lat, 0.99),
          extra: {
            'ops/s: signatures per s, slope over the 10th → 90th percentile of completions': Math.round(rate),
            'whole burst, first submit → last signature (incl. pipeline fill), /s': Math.round(wholeBurst),
            submitted: total,
            signed: res.signed.length,
            failed: res.failed,
            ...run.codes,
            'machine CPU busy, first submit → last signature (all cores)': `${(busy * 100).toFixed(0)} %`,
            'PostgreSQL sessions opened (new server processes)': walBurstAfter.sessions - walBurst.sessions,
            'PostgreSQL commits per intent': Number(
              ((walBurstAfter.commits - walBurst.commits) / total).toFixed(2),
            ),
          },
          ...(last
            ? {
                target: '≥ 300 intents/s submit → both signatures',
                met: rate >= 300 && res.signed.length === total,
              }
            : {}),
        });
        const perIntent = Object.fromEntries(
          Object.keys(pids).map((k) => [k, (after[k]!.cpuMs - before[k]!.cpuMs) / total]),
        );
        // Every PostgreSQL server process on the machine (the run's three databases' backends, the
        // WAL writer, checkpointer…): the machine runs nothing else against it meanwhile.
        perIntent.postgresql = pgMs / total;
        const systemMs = Object.values(perIntent).reduce((a, b) => a + b, 0);
        const nodeKeys = Object.keys(pids).filter((k) => k !== 'anvil');
        const nodeAll = nodeKeys.reduce((a, k) => a + after[k]!.cpuMs - before[k]!.cpuMs, 0);
        const nodeMain = nodeKeys.reduce(
          (a, k) => a + after[k]!.mainThreadCpuMs - before[k]!.mainThreadCpuMs,
          0,
        );
        const offMain = `${nodeAll > 0 ? (((nodeAll - nodeMain) / nodeAll) * 100).toFixed(0) : 0} %`;
        if (!detailed) {
          measurements.push({
            name: `  ${label}: CPU per intent, all processes`,
            extra: {
              'total ms (Custos + anvil + PostgreSQL)': Number(systemMs.toFixed(2)),
              'Custos processes, share off the main thread (V8 compiler and GC, libuv pool)': offMain,
            },
          });
          return;
        }
        measurements.push({
          name: `CPU ms per intent, by process (${label}: all each process did from the first submit to the last signature, broadcasts and confirmations included as far as they got)`,
          extra: {
            'Custos processes, share off the main thread (V8 compiler and GC, libuv pool)': offMain,
            'accounted ÷ machine busy CPU, same window (processes here + load generator)': Number(
              (((systemMs + run.loadCpuMsPerIntent) * total) / machineMs).toFixed(2),
            ),
            ...Object.fromEntries(Object.entries(perIntent).map(([k, v]) => [k, Number(v.toFixed(2))])),
            'total (Custos + anvil + PostgreSQL)': Number(systemMs.toFixed(2)),
            'load generator (this process, not in the total)': Number(run.loadCpuMsPerIntent.toFixed(2)),
            'intents/s that total allows on 2 cores': Math.round(2000 / systemMs),
            'reference workload CPU ms just before (see referenceCpuMs)': Number(refBurst.toFixed(1)),
            'total ÷ reference workload': Number((systemMs / refBurst).toFixed(3)),
          },
        });
        measurements.push({
          name: `ms since the previous transition, by workflow event (${label}; p50/p99)`,
          extra: Object.fromEntries(
            Object.entries(await stageLatencies(databaseUrl, coordinatorSchema, run.ids)).map(([k, v]) => [
              k,
              `${v.p50}/${v.p99} (${v.n})`,
            ]),
          ),
        });
      };
      for (let k = 1; k <= bursts; k++) {
        const last = k === bursts;
        const label =
          k === 1 ? 'burst 1, first after start-up' : last ? `burst ${k}, steady state` : `burst ${k}`;
        await throughput(label, `bench throughput ${k}`, last, k === 1 || last);
        // Let the burst's broadcasts and confirmations finish before the next measurement.
        await new Promise((r) => setTimeout(r, settleMs));
      }

      // 2. Submit latency at 100 intents/s (each goes on through the workflow meanwhile), and the
      // CPU per intent at that steady, moderate rate (smaller batches than the burst above).
      const refSteady = referenceCpuMs();
      const olBefore = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStat(p)]));
      const olPgBefore = postgresCpuMs();
      const walBefore = await walCounters(databaseUrl);
      // 1,500 submits (15 s): the p99 is then the 15th worst, not the 5th of 500.
      const ol = await submitOpenLoop(dep, 100, ctx.quick ? 200 : 1500, 'bench latency');
      const olEnd = Date.now();
      measurements.push({
        name: 'POST /v1/intents at 100 intents/s (open loop, workflow running)',
        p50Us: ol.p50,
        p99Us: ol.p99,
        extra: {
          intents: ol.n,
          ...Object.fromEntries(Object.entries(ol.codes).map(([k, v]) => [`HTTP ${k}`, v])),
        },
        target: 'p99 < 50 ms at 100 intents/s',
        met: ol.p99 < 50_000 && (ol.codes[201] ?? 0) === ol.n,
      });
      await waitSettled(ol.ids, 60_000);
      // Confirmations of the last ones (a block per second) before the CPU is read.
      await new Promise((r) => setTimeout(r, 2500));
      const olAfter = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStat(p)]));
      const olPer = Object.fromEntries(
        Object.keys(pids).map((k) => [k, (olAfter[k]!.cpuMs - olBefore[k]!.cpuMs) / ol.n]),
      );
      olPer.postgresql = (postgresCpuMs() - olPgBefore) / ol.n;
      const steadyMs = Object.values(olPer).reduce((a, b) => a + b, 0);
      const walAfter = await walCounters(databaseUrl);
      const olSigned = await signed(ol.ids);
      const walPer = (k: 'bytes' | 'records' | 'syncs' | 'commits') =>
        Number(((walAfter[k] - walBefore[k]) / ol.n).toFixed(2));
      notes.push(
        `latency run's WAL (to read which transactions wrote it): pg_waldump -s ${walBefore.lsn} -e ${walAfter.lsn}`,
      );
      measurements.push({
        name: 'CPU ms per intent, by process, at a steady 100 intents/s (latency run, on to confirmation)',
        extra: {
          ...Object.fromEntries(Object.entries(olPer).map(([k, v]) => [k, Number(v.toFixed(2))])),
          total: Number(steadyMs.toFixed(2)),
          'reference workload CPU ms just before': Number(refSteady.toFixed(1)),
          'total ÷ reference workload': Number((steadyMs / refSteady).toFixed(3)),
        },
      });
      measurements.push({
        name: 'PostgreSQL per intent at a steady 100 intents/s (server-wide: coordinator and co-signers)',
        extra: {
          'WAL bytes': walPer('bytes'),
          'WAL records': walPer('records'),
          'WAL flushes (fsync)': walPer('syncs'),
          commits: walPer('commits'),
          'sessions opened in the run (new server processes)': walAfter.sessions - walBefore.sessions,
        },
      });

      // 2b. The same latency run with every process but the API at niceness 10 (the workflow, the
      // co-signers, anvil): on one saturated host the API's answers then win the CPU and the
      // background work takes what is left, as `Nice=10` on those units would do. Beside 2, same
      // deployment, same minute; PostgreSQL's backends stay at the default priority.
      const NICE = 10;
      for (const k of ['coordinator (workflow)', 'cosigner-a', 'cosigner-b', 'anvil'] as const)
        reniceTree(pids[k], NICE);
      await new Promise((r) => setTimeout(r, 2000));
      const olNice = await submitOpenLoop(dep, 100, ctx.quick ? 200 : 1500, 'bench latency nice');
      const olNiceEnd = Date.now();
      await waitSettled(olNice.ids, 120_000);
      const niceSigned = await signed(olNice.ids);
      // How far the background work lagged: last signature after the last submit was answered.
      const drainS = (r: typeof niceSigned, end: number) =>
        r.signed.length
          ? Number(((Math.max(...r.signed.map((x) => x.signedMs)) - end) / 1000).toFixed(1))
          : null;
      measurements.push({
        name: `POST /v1/intents at 100 intents/s, workflow + co-signers + anvil at nice ${NICE} (open loop)`,
        p50Us: olNice.p50,
        p99Us: olNice.p99,
        extra: {
          intents: olNice.n,
          ...Object.fromEntries(Object.entries(olNice.codes).map(([k, v]) => [`HTTP ${k}`, v])),
          signed: niceSigned.signed.length,
          'last signature, s after the last submit (this run / at equal priority)': `${drainS(niceSigned, olNiceEnd)} / ${drainS(olSigned, olEnd)}`,
        },
        target: `p99 < 50 ms at 100 intents/s with the API prioritized (nice ${NICE} on the rest)`,
        met: olNice.p99 < 50_000 && (olNice.codes[201] ?? 0) === olNice.n,
      });

      // 3. One withdrawal alone: submit → signatures → confirmed on chain, with automine so that the
      // block interval is not what is measured.
      await dep.anvil.setBlockTime(0);
      const single: number[] = [];
      for (let i = 0; i < 3; i++) {
        const intent = demoIntent(dep.setup, { reference: `bench single ${i}`, wallet: 'safe-1' });
        const s0 = performance.now();
        await api.submit(dep.setup, intent);
        for (;;) {
          const d = (await api.get(`/v1/intents/${intent.id}`)).json;
          if (d.state === 'confirmed' || d.state === 'failed') {
            if (d.state === 'confirmed') single.push((performance.now() - s0) * 1000);
            else notes.push(`single withdrawal ${i} ended ${d.state}: ${JSON.stringify(d.failure)}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      single.sort((a, b) => a - b);
      measurements.push({
        name: 'one withdrawal alone: submit → confirmed on chain (automine)',
        p50Us: pct(single, 0.5),
        p99Us: pct(single, 0.99),
      });
      measurements.push({
        name: 'RSS per process (MiB)',
        extra: Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, procStat(p).rssMiB])),
      });
    } finally {
      await closeObservers();
      await dep.stop();
      // BENCH_E2E_KEEP_SCHEMAS=1 keeps them, so that the WAL range noted above can be read by table.
      if (process.env.BENCH_E2E_KEEP_SCHEMAS === '1') notes.push(`schemas kept: ${prefix}_*`);
      else
        for (const s of ['coordinator', 'cosigner_a', 'cosigner_b'])
          await dropSchema(databaseUrl, `${prefix}_${s}`).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }

    // 4. Stages alone, per intent, in this process, and the cryptographic floor.
    const ed = generateKeyPairSync('ed25519');
    const assets = {
      native: 'eip155:31337/slip44:60',
      token: 'eip155:31337/erc20:0x5FbDB2315678afecb367f032d93F642f64180aa3',
    };
    const policy = loadPolicy(JSON.stringify(demoPolicy(assets)), 'demo');
    const raw = {
      version: 1,
      id: '7b0b0f7e-5f0a-4d6b-9c57-2f4f7c1e8a11',
      chain: 'eip155:31337',
      asset: assets.native,
      wallet: 'safe-1',
      destination: '0x5d5c99EdF529335160FF180fA141Dd4967fc00D2',
      amount: '10000000000000000',
      reference: 'bench',
      requestedBy: 'svc-backoffice',
      createdAt: '2026-03-01T10:00:00Z',
      expiresAt: '2026-03-01T11:00:00Z',
    };
    const intent = parseIntent(raw);
    const digest = intentDigest(intent);
    const sig = sign(null, digest, ed.privateKey);
    const book = [
      {
        chain: 'eip155:31337',
        address: raw.destination,
        label: 'x',
        category: 'exchange',
        status: 'active' as const,
        addedAt: '2026-01-01T00:00:00Z',
        activeFrom: '2026-01-02T00:00:00Z',
      },
    ];
    const ms = ctx.quick ? 300 : 1000;
    const stage = (name: string, fn: () => unknown) => {
      const m = measureSync(fn, { ms, batch: 20 });
      measurements.push({
        name: `stage alone: ${name}`,
        opsPerSec: m.opsPerSec,
        p50Us: m.p50Us,
        p99Us: m.p99Us,
      });
      return m.p50Us;
    };
    const parseUs = stage('strict parse + JCS + SHA-256 intent digest', () => intentDigest(parseIntent(raw)));
    const verUs = stage('requester Ed25519 verify (node:crypto)', () =>
      verify(null, digest, ed.publicKey, sig),
    );
    const polUs = stage('policy evaluate (demo policy)', () =>
      evaluate(policy, intent, {
        now: '2026-03-01T10:00:30Z',
        requester: { id: 'svc-backoffice', roles: ['requester'] },
        addressBook: book,
        ledger: [],
        screening: 'clear',
        assets: {},
      }),
    );
    const sk = secp256k1.utils.randomSecretKey();
    const signUs = stage('co-signer secp256k1 ECDSA sign (libsecp256k1, as the key backends)', () =>
      libsecp256k1.signRecoverable(digest, sk),
    );
    measurements.push({
      name: 'cryptographic floor per intent (µs of CPU)',
      extra: {
        'requester verify ×3 (coordinator + 2 co-signers)': Number((3 * verUs).toFixed(1)),
        'ECDSA sign ×2': Number((2 * signUs).toFixed(1)),
        'parse+digest ×3': Number((3 * parseUs).toFixed(1)),
        'policy ×3': Number((3 * polUs).toFixed(1)),
        total: Number((3 * verUs + 2 * signUs + 3 * parseUs + 3 * polUs).toFixed(1)),
      },
    });
    notes.push(
      'Co-signers sign only a Safe’s current nonce (I8), so each Safe has one withdrawal in flight; the throughput run spreads intents round-robin over many Safes so that the wallets are not the bound. CPU per intent counts everything each process did during the run (workflow steps, watchtower, polling) divided by the intents.',
    );
    return { suite: 'e2e', measurements, notes };
  },
};

export default suite;
