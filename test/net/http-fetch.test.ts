import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getHttpRpcClient } from 'viem/utils';
import { afterEach, describe, expect, it } from 'vitest';
import { keepAliveFetch, viemFetch } from '../../src/net/http-fetch.ts';

/** A local HTTP server whose handler the test chooses; counts connections and requests. */
async function server(handler: http.RequestListener) {
  const s = http.createServer(handler);
  const stats = { connections: 0, requests: 0 };
  s.on('connection', () => stats.connections++);
  s.on('request', () => stats.requests++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  servers.push(s);
  return { url, stats, server: s };
}

const servers: http.Server[] = [];
const fetches: { close(): void }[] = [];
afterEach(async () => {
  for (const f of fetches.splice(0)) f.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function client(o?: Parameters<typeof keepAliveFetch>[0]) {
  const f = keepAliveFetch(o);
  fetches.push(f);
  return f;
}

const echo: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(201, {
      'Content-Type': 'application/json',
      'X-Seen-Length': req.headers['content-length'] ?? '',
    });
    res.end(
      JSON.stringify({ method: req.method, path: req.url, body: Buffer.concat(chunks).toString('utf8') }),
    );
  });
};

describe('keepAliveFetch', () => {
  it('sends method, headers and body, and reads status, headers (any case) and the JSON body', async () => {
    const { url } = await server(echo);
    const f = client();
    const body = JSON.stringify({ é: 'ü'.repeat(10) });
    const res = await f(`${url}/x?y=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.ok).toBe(true);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('X-SEEN-LENGTH')).toBe(String(Buffer.byteLength(body)));
    expect(res.headers.get('x-absent')).toBeNull();
    expect(await res.json()).toEqual({ method: 'POST', path: '/x?y=1', body });
    expect(JSON.parse(await res.text()).body).toBe(body);
  });

  it('keeps one connection alive across sequential requests', async () => {
    const { url, stats } = await server(echo);
    const f = client();
    for (let i = 0; i < 5; i++) expect((await f(url, { method: 'POST', body: String(i) })).status).toBe(201);
    expect(stats.requests).toBe(5);
    expect(stats.connections).toBe(1);
  });

  it('reports a non-2xx answer as not ok, with its body', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(503, 'Busy', { 'content-type': 'text/plain' });
      res.end('later');
    });
    const res = await client()(url);
    expect(res.ok).toBe(false);
    expect(res.status).toBe(503);
    expect(res.statusText).toBe('Busy');
    expect(await res.text()).toBe('later');
  });

  it('an abort signal covers the body too: headers then a stalled body rejects with the reason', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    });
    const err = await client()(url, { signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
  });

  it('rejects at once with an already aborted signal, without sending anything', async () => {
    const { url, stats } = await server(echo);
    const ctl = new AbortController();
    ctl.abort();
    const err = await client()(url, { signal: ctl.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(stats.requests).toBe(0);
  });

  it('cuts off a body over the limit with a typed error', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(64 * 1024, 0x61));
    });
    const err = await client({ maxResponseBytes: 1024 })(url).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('RESPONSE_TOO_LARGE');
    // The same limit lets a body that fits through.
    expect((await (await client({ maxResponseBytes: 64 * 1024 })(url)).text()).length).toBe(64 * 1024);
  });

  it('never resolves a body cut short by a dropped connection', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await expect(client()(url)).rejects.toThrow();
  });

  it('sends once more on a fresh connection when a pooled socket was reset, never on a fresh one', async () => {
    let n = 0;
    const { url, stats } = await server((req, res) => {
      n++;
      // The second request arrives on the kept-alive socket: drop it unanswered, as a server
      // that closed an idle connection would.
      if (n === 2) return req.socket.destroy();
      echo(req, res);
    });
    const f = client();
    expect((await f(url, { method: 'POST', body: 'a' })).status).toBe(201);
    const res = await f(url, { method: 'POST', body: 'b' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { body: string }).body).toBe('b');
    expect(stats.requests).toBe(3);
    expect(stats.connections).toBe(2);

    // A reset on a connection that was not reused is the answer: no second try.
    const { url: url2, stats: stats2 } = await server((req) => req.socket.destroy());
    await expect(client()(url2, { method: 'POST', body: 'c' })).rejects.toThrow();
    expect(stats2.requests).toBe(1);
  });

  it("drives viem's HTTP RPC client: JSON-RPC batches, and HTTP errors as viem's typed errors", async () => {
    const { url } = await server((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        const calls = (Array.isArray(parsed) ? parsed : [parsed]) as { id: number; method: string }[];
        if (calls.some((c) => c.method === 'boom')) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          return res.end('internal');
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(calls.map((c) => ({ jsonrpc: '2.0', id: c.id, result: `${c.method}!` }))));
      });
    });
    const rpc = getHttpRpcClient(url, { fetchFn: viemFetch(client()), timeout: 2000 });
    const answers = (await rpc.request({
      body: [
        { method: 'eth_chainId', params: [] },
        { method: 'eth_blockNumber', params: [] },
      ],
    })) as { result: string }[];
    expect(answers.map((a) => a.result)).toEqual(['eth_chainId!', 'eth_blockNumber!']);
    const err = await rpc.request({ body: { method: 'boom', params: [] } }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('HttpRequestError');
    expect((err as { status?: number }).status).toBe(500);
  });
});
