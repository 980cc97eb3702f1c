import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { AuditLog } from '../../src/store/audit.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { dropSchema, openPostgres } from '../../src/store/postgres.ts';
import { fixture, makeIntent, submitBody } from '../../test/coordinator/helpers/fixture.ts';
import { countingDb } from '../../test/helpers/counting-db.ts';
import type { BenchSuite, Measurement, SuiteResult } from '../report.ts';

/**
 * The submit path alone (`POST /v1/intents`), workflow NOT running, on PostgreSQL over TCP and
 * over the Unix socket:
 *  - statements (round trips) per submit, counted on the coordinator's Db;
 *  - CPU per submit of this process (Fastify, zod, Ed25519 verify, pg client) via `app.inject`
 *    (no HTTP client in the process), and of the PostgreSQL server processes (from /proc);
 *  - latency p50/p99 over real HTTP (keep-alive) at fixed offered rates, open loop.
 * Bodies are signed before the clock starts (signing is the requester's cost, not the coordinator's).
 * The app is configured as `custos serve` runs it (src/coordinator/serve.ts): pino at `info` with the
 * same redaction, asynchronous writes (here to /dev/null; a file or a pipe costs somewhat more), and a
 * rate limiter (the e2e bench's generous limits, so every request takes a token and none is refused),
 * as an API-only process (`role: api`: work announced with NOTIFY, counted with its statements).
 */
/** The logger of src/coordinator/serve.ts, writing to /dev/null. */
function serveLogger() {
  return pino(
    {
      level: 'info',
      redact: {
        paths: ['req.headers.authorization', 'req.headers["custos-signature"]', '*.seed', '*.token'],
        remove: true,
      },
    },
    pino.destination({ dest: '/dev/null', sync: false }),
  );
}

/** CPU time of the given PostgreSQL backend processes (this run's pool connections only). */
function backendCpuMs(pids: readonly number[]): number {
  let ms = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      /* exited (or the server is on another host: then 0) */
    }
  }
  return ms;
}

/** The server pids behind every connection of the pool (holds `size` connections at once). */
async function poolBackends(db: Db, size: number): Promise<number[]> {
  const rs = await Promise.all(
    Array.from({ length: size }, () =>
      db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)'),
    ),
  );
  return [...new Set(rs.map((r) => Number(r.rows[0]!.pid)))];
}

/** openPostgres's default pool size (see src/store/postgres.ts). */
const POOL_MAX = 10;
const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
const bodies = (n: number) => Array.from({ length: n }, () => JSON.stringify(submitBody(makeIntent())));
let keyN = 0;
const headers = () => ({
  'content-type': 'application/json',
  'idempotency-key': `bench-${process.pid}-${++keyN}-${randomBytes(4).toString('hex')}`,
});

async function runOne(label: string, url: string, quick: boolean): Promise<Measurement[]> {
  const schema = `bench_submit_${randomBytes(3).toString('hex')}`;
  const raw = await openPostgres({ connectionString: url, schema });
  const out: Measurement[] = [];
  try {
    await migrate(raw);
    const db = countingDb(raw);
    // The audit sealer's statements are counted apart: they are the log's, paid per batch.
    const sealerDb = countingDb(raw);
    const audit = new AuditLog(sealerDb, { now: () => new Date().toISOString() });
    // As an API-only process (`role: api`): no worker; new work is announced with NOTIFY on a
    // channel nobody listens to here (its statements count as the coordinator's).
    const { c } = await fixture(
      { ...db, listen: raw.listen!.bind(raw) },
      {
        audit,
        wakeChannel: `${schema}_work`,
        logger: serveLogger(),
        http: { rateLimit: { perSecond: 100_000, burst: 100_000 }, readTokens: new Map() },
      },
    );
    const post = (payload: string) =>
      c.app.inject({ method: 'POST', url: '/v1/intents', headers: headers(), payload });

    // Warm-up (JIT, pool connections).
    for (const p of bodies(quick ? 100 : 300)) await post(p);

    // Statements per submit.
    const countN = 50;
    const countBodies = bodies(countN);
    await audit.sealPending();
    const s0 = db.statements;
    for (const p of countBodies) {
      const r = await post(p);
      if (r.statusCode !== 201) throw new Error(`submit ${r.statusCode}: ${r.body}`);
    }
    const perSubmit = (db.statements - s0) / countN;
    let pids = await poolBackends(raw, POOL_MAX);

    // CPU per submit: sequential inject, this process and the PostgreSQL server (sealer included).
    const n = quick ? 300 : 1500;
    const cpuBodies = bodies(n);
    await audit.sealPending();
    const pg0 = backendCpuMs(pids);
    const seal0 = sealerDb.statements;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const p of cpuBodies) await post(p);
    await audit.sealPending();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const pgMs = backendCpuMs(pids) - pg0;
    out.push({
      name: `submit, sequential (inject), ${label}`,
      opsPerSec: n / (wall / 1000),
      extra: {
        'statements per submit': perSubmit,
        'audit sealer statements per submit': Number(((sealerDb.statements - seal0) / n).toFixed(2)),
        'coordinator CPU µs per submit': Math.round((cpu.user + cpu.system) / n),
        'PostgreSQL backend CPU µs per submit': Math.round((pgMs * 1000) / n),
      },
    });

    // Latency over HTTP at fixed offered rates (open loop).
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(c.app.server.address() as AddressInfo).port}`;
    for (const rate of [100, 300]) {
      const total = quick ? rate : rate * 5;
      const payloads = bodies(total);
      const lat: number[] = [];
      const codes = new Map<number, number>();
      const pending: Promise<void>[] = [];
      // Idle pooled connections close after 10 s: take the backends in use now.
      pids = await poolBackends(raw, POOL_MAX);
      const seal0 = sealerDb.statements;
      const db0 = db.statements;
      const cpu0 = process.cpuUsage();
      const pg0 = backendCpuMs(pids);
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const wait = start + (i * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t = performance.now();
        pending.push(
          fetch(`${base}/v1/intents`, { method: 'POST', headers: headers(), body: payloads[i]! }).then(
            async (r) => {
              await r.arrayBuffer();
              lat.push((performance.now() - t) * 1000);
              codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
            },
          ),
        );
      }
      await Promise.all(pending);
      await audit.sealPending();
      const cpu = process.cpuUsage(cpu0);
      const pgMs = backendCpuMs(pids) - pg0;
      lat.sort((a, b) => a - b);
      out.push({
        name: `POST /v1/intents over HTTP at ${rate}/s offered (open loop, workflow not running), ${label}`,
        p50Us: pct(lat, 0.5),
        p99Us: pct(lat, 0.99),
        extra: {
          ...Object.fromEntries([...codes].map(([k, v]) => [`HTTP ${k}`, v])),
          'statements per submit': Number(((db.statements - db0) / total).toFixed(2)),
          'audit sealer statements per submit': Number(((sealerDb.statements - seal0) / total).toFixed(2)),
          'process CPU µs per submit (server + HTTP client)': Math.round((cpu.user + cpu.system) / total),
          'PostgreSQL backend CPU µs per submit': Math.round((pgMs * 1000) / total),
        },
        ...(rate === 100
          ? {
              target: 'p99 < 50 ms at 100 intents/s',
              met: pct(lat, 0.99) < 50_000 && codes.get(201) === total,
            }
          : {}),
      });
    }
    await c.close();
    await audit.stopSealer();
  } finally {
    await raw.close();
    await dropSchema(url, schema).catch(() => undefined);
  }
  return out;
}

const suite: BenchSuite = {
  name: 'submit',
  async run(ctx): Promise<SuiteResult> {
    if (!ctx.databaseUrl) {
      return { suite: 'submit', measurements: [], notes: ['skipped: set DATABASE_URL (PostgreSQL)'] };
    }
    const tcp = ctx.databaseUrl;
    // Same server and database over its Unix socket (pg: host=<socket directory>).
    const u = new URL(tcp);
    const socket = `postgres://${u.username}@/${u.pathname.slice(1)}?host=${encodeURIComponent(
      process.env.CUSTOS_BENCH_PGSOCKET ?? '/var/run/postgresql',
    )}`;
    const measurements = [
      ...(await runOne('PostgreSQL over TCP', tcp, ctx.quick)),
      ...(await runOne('PostgreSQL over the Unix socket', socket, ctx.quick)),
    ];
    return {
      suite: 'submit',
      measurements,
      notes: [
        "CPU per submit counts everything this process did (Fastify, access log, rate limiter, zod, strict JSON, Ed25519 verify, pg client, audit sealer) and the PostgreSQL backends of this run's pool (other load on the server is not counted); the intents were signed beforehand. Statements per submit are counted on the coordinator's Db; the audit sealer's (which chain staged entries in batches) apart.",
      ],
    };
  },
};

export default suite;
