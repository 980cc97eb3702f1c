import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP framing of Bitcoin Core's JSON-RPC server, for the local regtest simulator
 * (src/bitcoin/regtest-sim.ts) and the adapters' test double (test/helpers/bitcoin-node-double.ts).
 * Neither is a node: this module only reproduces the wire shapes documented by Bitcoin Core's RPC
 * help — JSON-RPC 1.0 over HTTP POST to `/` or `/wallet/<name>` with Basic auth, `{result, error,
 * id}`, HTTP 401 with an empty body for bad credentials, HTTP 500 with the JSON error for RPC
 * errors — so the real `BitcoinCoreRpc` client talks to it unchanged.
 */
export interface RpcAnswer {
  result?: unknown;
  error?: { code: number; message: string };
}

export interface RpcCall {
  method: string;
  params: unknown[];
  id: unknown;
  /** `/wallet/<name>` of the request, if any. */
  wallet?: string;
}

export interface RpcServerOptions {
  auth: { username: string; password: string };
  /** Answers one authenticated JSON-RPC call. */
  rpc(call: RpcCall): RpcAnswer | Promise<RpcAnswer>;
  /**
   * Runs first for every request; returns true when it answered itself (the test double's fault
   * injection and Esplora routes).
   */
  intercept?(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  host?: string;
  port?: number;
}

export interface RpcServer {
  url: string;
  close(): Promise<void>;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function rpcError(code: number, message: string): RpcAnswer {
  return { error: { code, message } };
}

export async function startRpcServer(o: RpcServerOptions): Promise<RpcServer> {
  const expected = `Basic ${Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64')}`;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (o.intercept && (await o.intercept(req, res, path))) return;
    const wallet = /^\/wallet\/([^/]+)$/.exec(path);
    if (req.method !== 'POST' || (path !== '/' && !wallet)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if ((req.headers.authorization ?? '') !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="jsonrpc"' }).end();
      return;
    }
    type Call = { method?: unknown; params?: unknown; id?: unknown };
    let body: Call | Call[];
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ result: null, error: { code: -32700, message: 'Parse error' }, id: null }));
      return;
    }
    const answer = async (call: Call) => {
      const r =
        typeof call?.method !== 'string'
          ? rpcError(-32600, 'Invalid Request')
          : await o.rpc({
              method: call.method,
              params: Array.isArray(call.params) ? call.params : [],
              id: call.id,
              ...(wallet ? { wallet: decodeURIComponent(wallet[1]!) } : {}),
            });
      return { r, reply: { result: r.result ?? null, error: r.error ?? null, id: call?.id ?? null } };
    };
    if (Array.isArray(body)) {
      // A batch: Core runs each call in order and answers HTTP 200 with the array of replies,
      // errors included per entry.
      const replies = [];
      for (const call of body) replies.push((await answer(call)).reply);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(replies));
      return;
    }
    const { r, reply } = await answer(body);
    res.writeHead(r.error ? 500 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  // Keep idle keep-alive sockets open longer than any client step (Node's default 5 s races with
  // the client reusing a socket the server is closing: ECONNRESET on a slow, loaded machine).
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
