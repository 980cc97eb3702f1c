import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AuditLog } from '../../src/store/audit.ts';
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
 */
function postgresCpuMs(): number {
  let ms = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').startsWith('postgres')) continue;
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      /* exited */
    }
  }
  return ms;
}

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
    // The audit sealer talks to the raw Db: its statements are the log's, not the request's.
    const audit = new AuditLog(raw, { now: () => new Date().toISOString() });
    const { c } = await fixture(db, { audit });
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

    // CPU per submit: sequential inject, this process and the PostgreSQL server (sealer included).
    const n = quick ? 300 : 1500;
    const cpuBodies = bodies(n);
    await audit.sealPending();
    const pg0 = postgresCpuMs();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const p of cpuBodies) await post(p);
    await audit.sealPending();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const pgMs = postgresCpuMs() - pg0;
    out.push({
      name: `submit, sequential (inject), ${label}`,
      opsPerSec: n / (wall / 1000),
      extra: {
        'statements per submit': perSubmit,
        'coordinator CPU µs per submit': Math.round((cpu.user + cpu.system) / n),
        'PostgreSQL CPU µs per submit': Math.round((pgMs * 1000) / n),
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
      lat.sort((a, b) => a - b);
      out.push({
        name: `POST /v1/intents over HTTP at ${rate}/s offered (open loop, workflow not running), ${label}`,
        p50Us: pct(lat, 0.5),
        p99Us: pct(lat, 0.99),
        extra: Object.fromEntries([...codes].map(([k, v]) => [`HTTP ${k}`, v])),
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
        'CPU per submit counts everything this process did (Fastify, zod, strict JSON, Ed25519 verify, pg client, audit sealer) and every PostgreSQL server process; the intents were signed beforehand.',
      ],
    };
  },
};

export default suite;
