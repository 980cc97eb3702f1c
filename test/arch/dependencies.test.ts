import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Architecture rules, checked on the source text:
 *  - src/core is pure: no I/O modules (files, network, processes, databases, HTTP servers, clocks
 *    are passed in), so co-signers and auditors can run it anywhere and replay it.
 *  - src/cosigner never imports src/coordinator (or src/cli): the co-signer's trusted code stays
 *    small (core + its key backend + its own store/API).
 */
const ROOT = new URL('../../', import.meta.url).pathname;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  for (const m of src.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

const IO_MODULES = [
  /^(node:)?(fs|fs\/promises|net|tls|http|https|http2|dgram|dns|child_process|cluster|worker_threads|readline|os|process|vm)$/,
  /^pg$/,
  /^@electric-sql\/pglite/,
  /^fastify/,
  /^@fastify\//,
  /^pino/,
  /^prom-client$/,
  /^pkcs11js$/,
  /^graphene-pk11$/,
  /^commander$/,
  /^undici/,
  /^axios/,
];

describe('architecture', () => {
  it('src/core imports no I/O module', () => {
    const bad: string[] = [];
    for (const f of files(join(ROOT, 'src/core'))) {
      for (const spec of imports(f)) {
        if (IO_MODULES.some((re) => re.test(spec))) bad.push(`${relative(ROOT, f)} imports ${spec}`);
        if (spec.startsWith('.') && /\/(store|coordinator|cosigner|cli)\//.test(join(f, '..', spec))) {
          bad.push(`${relative(ROOT, f)} imports ${spec}`);
        }
      }
      // Globals that reach outside: clock, network, environment.
      const src = readFileSync(f, 'utf8');
      for (const g of [
        /\bfetch\(/,
        /\bDate\.now\(/,
        /\bnew Date\(\)/,
        /\bprocess\.env\b/,
        /\bMath\.random\(/,
      ]) {
        if (g.test(src)) bad.push(`${relative(ROOT, f)} uses ${g.source}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('src/cosigner never imports the coordinator or the CLI', () => {
    const bad: string[] = [];
    let dir: string;
    try {
      dir = join(ROOT, 'src/cosigner');
      statSync(dir);
    } catch {
      return;
    }
    for (const f of files(dir)) {
      for (const spec of imports(f)) {
        const target = spec.startsWith('.') ? join(f, '..', spec) : spec;
        if (/src\/(coordinator|cli)\b/.test(target)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the rule itself catches a violation', () => {
    // Guard against a checker that can never fail.
    expect(IO_MODULES.some((re) => re.test('node:fs'))).toBe(true);
    expect(imports(join(ROOT, 'test/arch/dependencies.test.ts'))).toContain('node:fs');
  });
});
