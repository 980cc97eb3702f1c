import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildListSet } from '../../src/core/screening/lists.ts';
import type { ScreeningReloadEvent } from '../../src/core/screening/types.ts';
import { FileListProvider, listNameFor } from '../../src/screening/file-provider.ts';
import { combineProviders, HttpScreeningProvider } from '../../src/screening/http-provider.ts';

const VECTORS = new URL('../../../shared/vectors/screening/', import.meta.url).pathname;
const OFAC = `${VECTORS}ofac-sdn-2025-05-30/`;
const OFAC_OLD = `${VECTORS}ofac-sdn-2024-09-27/`;
const FBI = `${VECTORS}fbi/fbi_psa250226_bybit_eth_addresses.txt`;
const ofacFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('sanctioned_addresses_'))
    .map((f) => ({ path: dir + f }));

const ETH = 'eip155:1';
const BTC = 'bip122:000000000019d6689c085ae165831e93';
// Bybit's cold wallet, the victim of the theft the FBI list is about: not on any list.
const BYBIT_VICTIM = '0x1Db92e2EeBC8E0c075a02BeA49a2935BcD2dFCF4';
// Lazarus/Bybit exploiter from the FBI PSA.
const FBI_LISTED = '0x51E9d833Ecae4E8D9D8Be17300AEE6D3398C135D';

describe('screening against the real OFAC and FBI lists', () => {
  const events: ScreeningReloadEvent[] = [];
  const provider = new FileListProvider({
    files: [...ofacFiles(OFAC), { path: FBI, name: 'fbi/psa250226' }],
    onReload: (e) => events.push(e),
  });
  beforeAll(async () => {
    await provider.reload();
  });

  it('reports the load with a digest per list', () => {
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ ok: true, digest: provider.digest });
    const eth = events[0]!.lists.find((l) => l.name === 'ofac-sdn-2025-05-30/ETH')!;
    // SHA-256 of the file as listed in ../shared/vectors/SOURCES.md
    expect(eth).toEqual({
      name: 'ofac-sdn-2025-05-30/ETH',
      digest: '4b01cd51b0fd60a60a6ed07c89bf9b2ee5e98e641504c3f6c58ebefced2ce9eb',
      entries: 64,
    });
  });

  it('every FBI address is a hit in any letter case; the victim is not', async () => {
    const fbi = readFileSync(FBI, 'utf8').split('\n').filter(Boolean);
    expect(fbi).toHaveLength(51);
    for (const a of fbi) {
      expect(await provider.check(ETH, a)).toBe('hit');
      expect(await provider.check(ETH, a.toLowerCase())).toBe('hit');
      expect(await provider.check(ETH, `0x${a.slice(2).toUpperCase()}`)).toBe('hit');
    }
    expect(await provider.lookup(ETH, FBI_LISTED)).toMatchObject({ status: 'hit', lists: ['fbi/psa250226'] });
    expect(await provider.check(ETH, BYBIT_VICTIM)).toBe('clear');
  });

  it('OFAC EVM entries hit in any case (including the all-lowercase entries)', async () => {
    const usdt = readFileSync(`${OFAC}sanctioned_addresses_USDT.txt`, 'utf8')
      .split('\n')
      .filter((a) => a.startsWith('0x'));
    expect(usdt.some((a) => a === a.toLowerCase())).toBe(true);
    for (const a of usdt) {
      expect(await provider.check(ETH, a.toLowerCase())).toBe('hit');
      expect(await provider.check(ETH, `0x${a.slice(2).toUpperCase()}`)).toBe('hit');
    }
  });

  it('OFAC Bitcoin entries hit exactly and only exactly', async () => {
    const xbt = readFileSync(`${OFAC}sanctioned_addresses_XBT.txt`, 'utf8').split('\n').filter(Boolean);
    expect(xbt.length).toBe(483);
    for (const a of xbt) expect(await provider.check(BTC, a)).toBe('hit');
    const base58 = xbt.find((a) => /^[13]/.test(a) && a !== a.toLowerCase())!;
    expect(await provider.check(BTC, base58.toLowerCase())).toBe('clear');
    expect(await provider.check(BTC, '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa')).toBe('clear');
  });

  it('Tornado Cash was delisted in 2025: a hit on the 2024 list, clear on the 2025 list', async () => {
    const old = buildListSet(
      ofacFiles(OFAC_OLD).map((f) => ({ name: listNameFor(f.path), text: readFileSync(f.path, 'utf8') })),
    );
    const oldEth = readFileSync(`${OFAC_OLD}sanctioned_addresses_ETH.txt`, 'utf8')
      .split('\n')
      .filter(Boolean);
    const newEth = new Set(
      readFileSync(`${OFAC}sanctioned_addresses_ETH.txt`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((a) => a.toLowerCase()),
    );
    const dropped = oldEth.find((a) => !newEth.has(a.toLowerCase()))!;
    expect(old.match(dropped)).toEqual(['ofac-sdn-2024-09-27/ETH']);
    expect(await provider.check(ETH, dropped)).toBe('clear');
  });
});

describe('reloads', () => {
  it('are atomic: a failed reload keeps the old lists and is reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-screen-'));
    copyFileSync(FBI, join(dir, 'a.txt'));
    writeFileSync(join(dir, 'b.txt'), '# nothing yet\n');
    const events: ScreeningReloadEvent[] = [];
    const p = new FileListProvider({
      files: [{ path: join(dir, 'a.txt') }, { path: join(dir, 'b.txt') }],
      onReload: (e) => events.push(e),
    });
    expect(await p.check(ETH, FBI_LISTED)).toBe('unavailable'); // before the first load
    await p.reload();
    const first = p.digest;
    writeFileSync(join(dir, 'b.txt'), `${BYBIT_VICTIM}\n`);
    copyFileSync(FBI, join(dir, 'a.txt'));
    const bad = new FileListProvider({
      files: [{ path: join(dir, 'a.txt') }, { path: join(dir, 'missing.txt') }],
    });
    expect((await bad.reload()).ok).toBe(false);
    // Same provider, one file made unreadable by removing it from disk through a bad path swap:
    (p as unknown as { files: { path: string }[] }).files.push({ path: join(dir, 'missing.txt') });
    const failed = await p.reload();
    expect(failed).toMatchObject({ ok: false, previousDigest: first });
    expect(p.digest).toBe(first);
    expect(await p.check(ETH, BYBIT_VICTIM)).toBe('clear'); // the half-read new list was not applied
    (p as unknown as { files: { path: string }[] }).files.pop();
    const ok = await p.reload();
    expect(ok).toMatchObject({ ok: true, previousDigest: first });
    expect(ok.digest).not.toBe(first);
    expect(await p.check(ETH, BYBIT_VICTIM)).toBe('hit');
    expect(events.map((e) => e.ok)).toEqual([true, false, true]);
  });
});

describe('list content', () => {
  it('a reload with a junk list fails as a whole and keeps the old lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-screen-'));
    copyFileSync(FBI, join(dir, 'fbi.txt'));
    const p = new FileListProvider({ files: [{ path: join(dir, 'fbi.txt') }] });
    expect((await p.reload()).ok).toBe(true);
    writeFileSync(join(dir, 'fbi.txt'), '<html><body>502 Bad Gateway</body></html>\n');
    const ev = await p.reload();
    expect(ev).toMatchObject({ ok: false });
    expect(ev.error).toContain('SCREENING_LIST_INVALID');
    expect(await p.check(ETH, FBI_LISTED)).toBe('hit');
  });
});

describe('HTTP provider fails closed', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const { address } = JSON.parse(body || '{}') as { address?: string };
        if (req.url === '/slow') return void setTimeout(() => res.end('{"status":"clear"}'), 2000);
        if (req.url === '/500') return void res.writeHead(500).end('oops');
        if (req.url === '/garbage') return void res.end('{"status":"maybe"}');
        if (req.url === '/huge') return void res.end(`{"status":"clear","pad":"${'x'.repeat(100_000)}"}`);
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(
            address === FBI_LISTED ? { status: 'hit', lists: ['vendor/lazarus'] } : { status: 'clear' },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('passes through hit and clear', async () => {
    const p = new HttpScreeningProvider({ url: `${base}/check`, timeoutMs: 1000 });
    expect(await p.lookup(ETH, FBI_LISTED)).toMatchObject({ status: 'hit', lists: ['vendor/lazarus'] });
    expect(await p.check(ETH, BYBIT_VICTIM)).toBe('clear');
  });
  it.each([
    ['/slow', 'time-out'],
    ['/500', 'HTTP 500'],
    ['/garbage', 'reply has no valid status'],
    ['/huge', 'reply too large'],
  ])('%s → unavailable (%s)', async (path, error) => {
    const p = new HttpScreeningProvider({ url: base + path, timeoutMs: 200 });
    expect(await p.lookup(ETH, BYBIT_VICTIM)).toMatchObject({ status: 'unavailable', error });
  });
  it('connection refused → unavailable', async () => {
    const p = new HttpScreeningProvider({ url: 'http://127.0.0.1:1/check', timeoutMs: 500 });
    expect(await p.check(ETH, BYBIT_VICTIM)).toBe('unavailable');
  });
  it('combined: any hit wins, else any outage makes it unavailable', async () => {
    const lists = new FileListProvider({ files: [{ path: FBI }] });
    await lists.reload();
    const down = new HttpScreeningProvider({ url: `${base}/500`, timeoutMs: 500 });
    const up = new HttpScreeningProvider({ url: `${base}/check`, timeoutMs: 500 });
    expect(await combineProviders([lists, down]).check(ETH, FBI_LISTED)).toBe('hit');
    expect(await combineProviders([lists, down]).check(ETH, BYBIT_VICTIM)).toBe('unavailable');
    expect(await combineProviders([lists, up]).check(ETH, BYBIT_VICTIM)).toBe('clear');
  });
});

describe('screening in the default policy', () => {
  it('a listed address that made it into the address book is still blocked', async () => {
    const { loadPolicy } = await import('../../src/core/policy/load.ts');
    const { evaluate } = await import('../../src/core/policy/evaluate.ts');
    const { ctx, entry, intent } = await import('./fixtures.ts');
    const p = loadPolicy(
      readFileSync(new URL('../../examples/policies/default.yaml', import.meta.url), 'utf8'),
      'default.yaml',
    );
    const lists = new FileListProvider({ files: [{ path: FBI, name: 'fbi/psa250226' }] });
    await lists.reload();
    const r = await lists.lookup(ETH, FBI_LISTED);
    const d = evaluate(
      p,
      intent({ destination: FBI_LISTED }),
      ctx({ screening: r.status, screeningLists: r.lists, addressBook: [entry({ address: FBI_LISTED })] }),
    );
    expect(d).toMatchObject({ decision: 'block', rule: 'block-screening-hit' });
    expect(d.findings).toContainEqual(
      expect.objectContaining({
        code: 'SCREENING_HIT',
        details: expect.objectContaining({ lists: ['fbi/psa250226'] }),
      }),
    );
  });
});

describe('list configuration and the audit log', () => {
  it('loads every OFAC file of a snapshot plus named files, and audits the reload with its digest', async () => {
    const { listFilesFromConfig, auditReloads } = await import('../../src/screening/config.ts');
    const { openPglite } = await import('../../src/store/pglite.ts');
    const { CORE_MIGRATIONS_DIR, loadMigrations, migrate } = await import('../../src/store/migrate.ts');
    const { AuditLog } = await import('../../src/store/audit.ts');
    const files = listFilesFromConfig({
      ofacDirectories: [OFAC],
      files: [{ path: FBI, name: 'fbi/psa250226' }],
    });
    expect(files).toHaveLength(18);
    const db = await openPglite();
    try {
      // Only the foundation range (audit log): applying every area's migrations is slow on PGlite.
      await migrate(
        db,
        loadMigrations(CORE_MIGRATIONS_DIR).filter((m) => m.version < 100),
      );
      const audit = new AuditLog(db, { now: () => '2026-03-04T10:00:00Z' });
      const errors: unknown[] = [];
      const appended: unknown[] = [];
      const sink = {
        append: async (e: Parameters<typeof audit.append>[0]) => appended.push(await audit.append(e)),
      };
      const p = new FileListProvider({
        files,
        name: 'ofac+fbi',
        onReload: auditReloads(sink, (e) => errors.push(e)),
      });
      const ev = await p.reload();
      await vi.waitFor(() => expect(appended).toHaveLength(1));
      expect(errors).toEqual([]);
      const { rows } = await db.query<{ kind: string; subject: string; body: string }>(
        'SELECT kind, subject, body FROM audit_log',
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kind: 'screening.lists.reload', subject: 'ofac+fbi' });
      expect(JSON.parse(rows[0]!.body).digest).toBe(ev.digest);
    } finally {
      await db.close();
    }
  }, 180_000);
});
