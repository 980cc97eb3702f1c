import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, startRpcServer } from '../../src/bitcoin/rpc-server.ts';

/**
 * TEST DOUBLE — not a Bitcoin node. No bitcoind or electrs can run in this environment, so the
 * adapters are tested against this local node:http server, which replays the request/response
 * shapes documented by Bitcoin Core's RPC help (JSON-RPC 1.0 over HTTP POST with Basic auth,
 * `{result, error, id}`, HTTP 401 with an empty body for bad credentials, HTTP 500 with a JSON
 * error for RPC errors) and by Esplora's API.md (plain-text heights and hashes, binary raw blocks
 * and transactions, JSON fee estimates and UTXO lists, POST /tx with a hex body).
 * Its chain is whatever the test puts in `state`: raw blocks by height, raw transactions, UTXOs.
 */
export interface NodeDoubleState {
  /** Active chain: raw blocks and their hashes, index = height. */
  blocks: { hash: string; raw: Uint8Array }[];
  txs: Map<string, Uint8Array>;
  utxos: {
    txid: string;
    vout: number;
    amountBtc: number;
    scriptPubKey: string;
    address: string;
    confirmations: number;
  }[];
  /** estimatesmartfee feerate in BTC/kvB (undefined: "Insufficient data or no feerate found"). */
  feerateBtcKvb?: number;
  /** Esplora /fee-estimates (sat/vB by target). */
  feeEstimates: Record<string, number>;
  broadcast: string[];
  imported: unknown[];
  /** Fault injection: delay every answer (time-out tests), or answer garbage / HTTP 500. */
  delayMs: number;
  fault?: 'garbage' | 'http500' | 'stall-body';
}

export interface NodeDouble {
  url: string;
  state: NodeDoubleState;
  requests: { path: string; method?: string }[];
  close(): Promise<void>;
}

const USER = 'custos';
const PASS = 'test-double-password';
export const NODE_DOUBLE_AUTH = { username: USER, password: PASS };

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export async function startNodeDouble(initial: Partial<NodeDoubleState> = {}): Promise<NodeDouble> {
  const state: NodeDoubleState = {
    blocks: [],
    txs: new Map(),
    utxos: [],
    feeEstimates: { '1': 20.5, '3': 12.1, '6': 8.0, '144': 1.2 },
    broadcast: [],
    imported: [],
    delayMs: 0,
    ...initial,
  };
  const requests: NodeDouble['requests'] = [];

  const rpc = (
    method: string,
    params: unknown[],
  ): { result?: unknown; error?: { code: number; message: string } } => {
    switch (method) {
      case 'getblockcount':
        return { result: state.blocks.length - 1 };
      case 'getblockhash': {
        const b = state.blocks[params[0] as number];
        return b ? { result: b.hash } : { error: { code: -8, message: 'Block height out of range' } };
      }
      case 'getblock': {
        const b = state.blocks.find((x) => x.hash === params[0]);
        if (!b) return { error: { code: -5, message: 'Block not found' } };
        return params[1] === 0
          ? { result: hex(b.raw) }
          : { error: { code: -8, message: 'double supports verbosity 0' } };
      }
      case 'getrawtransaction': {
        const t = state.txs.get(params[0] as string);
        return t
          ? { result: hex(t) }
          : {
              error: {
                code: -5,
                message:
                  'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
              },
            };
      }
      case 'gettransaction': {
        const t = state.txs.get(params[0] as string);
        return t
          ? { result: { txid: params[0], hex: hex(t), confirmations: 1 } }
          : { error: { code: -5, message: 'Invalid or non-wallet transaction id' } };
      }
      case 'estimatesmartfee':
        return state.feerateBtcKvb === undefined
          ? { result: { errors: ['Insufficient data or no feerate found'], blocks: params[0] } }
          : { result: { feerate: state.feerateBtcKvb, blocks: params[0] } };
      case 'sendrawtransaction': {
        const h = params[0] as string;
        if (!/^[0-9a-f]+$/.test(h)) return { error: { code: -22, message: 'TX decode failed' } };
        state.broadcast.push(h);
        return { result: 'f'.repeat(64) };
      }
      case 'importdescriptors': {
        const reqs = params[0] as { desc: string }[];
        state.imported.push(...reqs);
        return {
          result: reqs.map((r) =>
            /#[a-z0-9]{8}$/.test(r.desc)
              ? { success: true }
              : { success: false, error: { code: -5, message: 'Missing checksum' } },
          ),
        };
      }
      case 'listunspent':
        return {
          result: state.utxos.map((u) => ({
            ...u,
            amount: u.amountBtc,
            spendable: false,
            solvable: true,
            safe: true,
          })),
        };
      default:
        return { error: { code: -32601, message: 'Method not found' } };
    }
  };

  // Esplora routes, and the fault injection that applies before authentication.
  const intercept = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    requests.push({ path, method: req.method });
    if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
    if (state.fault === 'http500') {
      res.writeHead(500).end('internal error');
      return true;
    }
    if (state.fault === 'stall-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":');
      return true; // never ends
    }
    if (req.method === 'POST' && (path === '/' || path.startsWith('/wallet/'))) return false;
    // Esplora
    const m = (method: string, re: RegExp) => (req.method === method ? re.exec(path) : null);
    const text = (status: number, t: string, type = 'text/plain') =>
      res.writeHead(status, { 'content-type': type }).end(t);
    const blockHeight = m('GET', /^\/block-height\/(\d+)$/);
    const blockRaw = m('GET', /^\/block\/([0-9a-f]{64})\/raw$/);
    const txRaw = m('GET', /^\/tx\/([0-9a-f]{64})\/raw$/);
    const addrUtxo = m('GET', /^\/address\/([^/]+)\/utxo$/);
    if (m('GET', /^\/blocks\/tip\/height$/)) {
      text(200, String(state.blocks.length - 1));
    } else if (blockHeight) {
      const b = state.blocks[Number(blockHeight[1])];
      if (b) text(200, b.hash);
      else text(404, 'Block not found');
    } else if (blockRaw) {
      const b = state.blocks.find((x) => x.hash === blockRaw[1]);
      if (b) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(b.raw));
      else text(404, 'Block not found');
    } else if (txRaw) {
      const t = state.txs.get(txRaw[1]!);
      if (t) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from(t));
      else text(404, 'Transaction not found');
    } else if (m('GET', /^\/fee-estimates$/)) {
      text(200, JSON.stringify(state.feeEstimates), 'application/json');
    } else if (addrUtxo) {
      const list = state.utxos
        .filter((u) => u.address === decodeURIComponent(addrUtxo[1]!))
        .map((u) => ({
          txid: u.txid,
          vout: u.vout,
          value: Math.round(u.amountBtc * 1e8),
          status: { confirmed: true, block_height: state.blocks.length - u.confirmations },
        }));
      text(200, JSON.stringify(list), 'application/json');
    } else if (m('POST', /^\/tx$/)) {
      const h = (await readBody(req)).trim();
      if (!/^[0-9a-f]+$/.test(h))
        text(400, 'sendrawtransaction RPC error: {"code":-22,"message":"TX decode failed"}');
      else {
        state.broadcast.push(h);
        text(200, 'e'.repeat(64));
      }
    } else {
      text(404, 'not found');
    }
    return true;
  };

  const server = await startRpcServer({
    auth: NODE_DOUBLE_AUTH,
    intercept,
    rpc: ({ method, params }) => (state.fault === 'garbage' ? { result: 'not-hex!' } : rpc(method, params)),
  });
  return { url: server.url, state, requests, close: server.close };
}
