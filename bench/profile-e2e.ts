// Profiling harness (not a bench suite): a `custos up` deployment on PostgreSQL whose Custos
// processes record V8 CPU profiles, a burst of intents over many Safes, then a clean stop so the
// profiles are written (open them in Chrome DevTools → Performance, or any .cpuprofile viewer).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test SAFES=300 TOTAL=300 RATE=300 \
//     node --import tsx bench/profile-e2e.ts [out-dir]
//
// It prints W0 (load starts), WS (last submit answered) and W1 (all final) on the monotonic clock
// in µs, the clock the profiles' sample times use: keep only the samples of the run, not start-up.
//
// Where the numbers come from for docs/coordinator.md "Bench"; `npm run bench -- --only e2e` is
// the measurement, this only says where the time goes.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient, demoIntent, requesterSignature } from '../src/coordinator/local/client.ts';
import { runLocal } from '../src/coordinator/local/up.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('set DATABASE_URL (the e2e deployment runs on PostgreSQL)');
const safes = Number(process.env.SAFES ?? 300);
const total = Number(process.env.TOTAL ?? 300);
const rate = Number(process.env.RATE ?? 300);
const out = resolve(process.argv[2] ?? mkdtempSync(join(tmpdir(), 'custos-profiles-')));
mkdirSync(out, { recursive: true });

// --cpu-prof is not allowed in NODE_OPTIONS; a preloaded module drives the inspector instead.
const preload = join(out, 'preload.mjs');
writeFileSync(
  preload,
  `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const s = new Session();
s.connect();
s.post('Profiler.enable');
s.post('Profiler.setSamplingInterval', { interval: 500 });
s.post('Profiler.start');
process.on('exit', () => {
  s.post('Profiler.stop', (err, r) => {
    if (!err) writeFileSync(${JSON.stringify(out)} + '/' + (process.argv[2] ?? 'node') + '-' + process.pid + '.cpuprofile', JSON.stringify(r.profile));
  });
});
`,
);
const inherited = process.env.NODE_OPTIONS;
process.env.NODE_OPTIONS = `${inherited ?? ''} --import=${preload}`;
const dep = await runLocal({
  dir: mkdtempSync(join(tmpdir(), 'custos-profile-')),
  fresh: true,
  databaseUrl,
  schemaPrefix: `prof_${Date.now().toString(36)}`,
  safes,
  bitcoin: false,
  workflowProcess: true,
  scrypt: { N: 1024, r: 8, p: 1 },
  coordinatorExtra: {
    worker: { batch: 64 },
    api: { rateLimit: { perSecond: 100_000, burst: 100_000 }, readTokens: [] },
  },
});
if (inherited === undefined) delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = inherited;

const api = new ApiClient(dep.setup.coordinatorUrl);
const w0 = process.hrtime.bigint() / 1000n;
const t0 = performance.now();
const pending: Promise<unknown>[] = [];
const ids: string[] = [];
for (let i = 0; i < total; i++) {
  const wait = t0 + (i * 1000) / rate - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const intent = demoIntent(dep.setup, { reference: `profile ${i}`, wallet: dep.setup.safes[i % safes]!.id });
  ids.push(intent.id);
  pending.push(
    api.post('/v1/intents', { intent, signature: requesterSignature(dep.setup.requester, intent) }),
  );
}
await Promise.all(pending);
const wSubmitted = process.hrtime.bigint() / 1000n;
for (;;) {
  const last = await Promise.all(
    ids.slice(-20).map(async (id) => (await api.get(`/v1/intents/${id}`)).json.state),
  );
  if (last.every((s) => s === 'confirmed' || s === 'failed')) break;
  await new Promise((r) => setTimeout(r, 500));
}
console.log(`W0=${w0} WS=${wSubmitted} W1=${process.hrtime.bigint() / 1000n}`);
console.log(
  `${total} intents submitted → final in ${((performance.now() - t0) / 1000).toFixed(1)} s; profiles in ${out}`,
);
await dep.stop();
