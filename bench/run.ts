import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchSuite, SuiteResult } from './report.ts';

/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every suite in bench/suites and writes
 * bench/report.json (one document) plus a readable table on stdout.
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? new Set(args[onlyIdx + 1]!.split(',')) : undefined;
const dir = new URL('./suites/', import.meta.url).pathname;

const results: SuiteResult[] = [];
let peakRss = process.memoryUsage().rss;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .sort()) {
  const mod = (await import(join(dir, file))) as { default: BenchSuite };
  const suite = mod.default;
  if (only && !only.has(suite.name)) continue;
  process.stderr.write(`bench: ${suite.name}…\n`);
  try {
    results.push(await suite.run({ databaseUrl: process.env.DATABASE_URL, quick }));
  } catch (e) {
    results.push({
      suite: suite.name,
      measurements: [],
      notes: [`FAILED: ${e instanceof Error ? e.stack : String(e)}`],
    });
  }
}
clearInterval(rssTimer);

const report = {
  generatedAt: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: (await import('node:os')).cpus().length,
  },
  peakRssMiB: Math.round(peakRss / 1048576),
  suites: results,
};
const out = new URL('./report.json', import.meta.url).pathname;
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const fmt = (n: number | undefined) =>
  n === undefined ? '' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
for (const r of results) {
  console.log(`\n## ${r.suite}`);
  for (const m of r.measurements) {
    const extra = m.extra ? ` ${JSON.stringify(m.extra)}` : '';
    const target = m.target ? `  target ${m.target}: ${m.met ? 'met' : 'NOT met'}` : '';
    console.log(
      `  ${m.name.padEnd(56)} ${fmt(m.opsPerSec).padStart(12)} ops/s  p50 ${fmt(m.p50Us)}µs p99 ${fmt(m.p99Us)}µs${extra}${target}`,
    );
  }
  for (const [k, v] of Object.entries(r.ratios ?? {})) console.log(`  ratio ${k}: ${v.toFixed(2)}×`);
  for (const n of r.notes ?? []) console.log(`  note: ${n}`);
}
console.log(`\npeak RSS ${report.peakRssMiB} MiB; report written to bench/report.json`);
