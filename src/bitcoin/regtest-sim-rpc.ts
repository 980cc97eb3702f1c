import { randomBytes } from 'node:crypto';
import { hex } from '@scure/base';
import { addressToScript } from '../core/chains/bitcoin/address.ts';
import { descriptorChecksum } from '../core/chains/bitcoin/descriptor/checksum.ts';
import { deriveOutput } from '../core/chains/bitcoin/descriptor/derive.ts';
import { parseRawTx, reversedHex } from '../core/chains/bitcoin/tx/raw.ts';
import { parseBitcoinWallet } from '../core/chains/bitcoin/wallet.ts';
import { RegtestChain, SimRejection } from './regtest-sim.ts';
import { type RpcAnswer, type RpcCall, rpcError, startRpcServer } from './rpc-server.ts';

/**
 * The regtest simulator's JSON-RPC face (see src/bitcoin/regtest-sim.ts: a simulator, not a node).
 * It answers the subset Custos calls — getblockcount, getblockhash, getblock (verbosity 0 and 1),
 * getbestblockhash, getblockchaininfo, getrawtransaction (every transaction, as with -txindex),
 * gettransaction, estimatesmartfee, sendrawtransaction, importdescriptors, listunspent — plus
 * generatetoaddress, sendtoaddress and sendmany (paid by the faucet) so a local deployment can be
 * set up exactly as against a real `bitcoind -regtest` wallet.
 *
 * Wallet view: ONE watch-only view shared by every `/wallet/<name>` path; importdescriptors takes
 * receive and change descriptors together (as BitcoinCoreRpc.importDescriptors sends them) and
 * watches both branches over `range`. `listunspent` lists watched UTXOs, `gettransaction` knows
 * transactions paying or spending a watched script. Fee estimates are a fixed rate
 * (`feeRateSatVb`), not estimated.
 */
export interface RegtestSimulatorOptions {
  /** rpcuser:rpcpassword; default: random password for user `custos`. */
  auth?: { username: string; password: string };
  host?: string;
  port?: number;
  /** estimatesmartfee answer in sat/vB (default 2). */
  feeRateSatVb?: number;
}

export interface RegtestSimulator {
  url: string;
  auth: { username: string; password: string };
  chain: RegtestChain;
  close(): Promise<void>;
}

const btc = (sat: bigint) => Number(sat) / 1e8;

function satOf(amount: unknown): bigint {
  if (typeof amount !== 'number' || !(amount > 0) || Number(amount.toFixed(8)) !== amount)
    throw new SimRejection(-3, 'Invalid amount');
  return BigInt(amount.toFixed(8).replace('.', ''));
}

export async function startRegtestSimulator(o: RegtestSimulatorOptions = {}): Promise<RegtestSimulator> {
  const chain = new RegtestChain();
  chain.mineToMaturity();
  const watched = new Set<string>();
  const feeRate = o.feeRateSatVb ?? 2;

  const isWalletTx = (txid: string): boolean => {
    const t = chain.txs.get(txid);
    if (!t) return false;
    const p = parseRawTx(t.raw);
    if (p.outputs.some((x) => watched.has(hex.encode(x.script)))) return true;
    return p.inputs.some((i) => {
      const prev = chain.txs.get(reversedHex(i.prevHash));
      const out = prev && parseRawTx(prev.raw).outputs[i.vout];
      return out !== undefined && watched.has(hex.encode(out.script));
    });
  };

  const importDescriptors = (reqs: unknown): RpcAnswer => {
    if (!Array.isArray(reqs)) return rpcError(-8, 'requests must be an array');
    const list = reqs as { desc?: string; internal?: boolean; range?: [number, number] | number }[];
    for (const r of list) {
      const body = String(r.desc ?? '').replace(/#.*$/, '');
      if (!/#[a-z0-9]{8}$/.test(String(r.desc)) || `${body}#${descriptorChecksum(body)}` !== r.desc)
        return {
          result: list.map(() => ({ success: false, error: { code: -5, message: 'Missing checksum' } })),
        };
    }
    const receive = list.find((r) => !r.internal);
    const change = list.find((r) => r.internal);
    if (list.length !== 2 || !receive || !change)
      return rpcError(-8, 'simulator: import the receive and the change descriptor together');
    try {
      const w = parseBitcoinWallet({
        network: 'regtest',
        receiveDescriptor: receive.desc,
        changeDescriptor: change.desc,
        feeRateCeilingSatVb: 1000, // required by the schema; irrelevant for watching
        maxIndex: 2 ** 31 - 1,
      });
      const range = receive.range ?? 999;
      const end = Array.isArray(range) ? range[1] : range;
      for (const branch of ['receive', 'change'] as const)
        for (let i = 0; i <= end; i++) watched.add(hex.encode(deriveOutput(w, branch, i).script));
    } catch (e) {
      return rpcError(-5, `simulator: unsupported descriptor (${(e as Error).message})`);
    }
    return { result: [{ success: true }, { success: true }] };
  };

  const pay = (to: Record<string, unknown>): RpcAnswer => ({
    result: chain.fund(
      Object.entries(to).map(([address, amount]) => ({
        script: addressToScript(address, 'regtest'),
        amount: satOf(amount),
      })),
    ),
  });

  const rpc = ({ method, params }: RpcCall): RpcAnswer => {
    switch (method) {
      case 'getblockcount':
        return { result: chain.height };
      case 'getbestblockhash':
        return { result: chain.tip.hash };
      case 'getblockchaininfo':
        return {
          result: {
            chain: 'regtest',
            blocks: chain.height,
            headers: chain.height,
            bestblockhash: chain.tip.hash,
          },
        };
      case 'getblockhash': {
        const b = chain.blocks[params[0] as number];
        return b ? { result: b.hash } : rpcError(-8, 'Block height out of range');
      }
      case 'getblock': {
        const b = chain.byHash.get(String(params[0]));
        if (!b) return rpcError(-5, 'Block not found');
        if (params[1] === 0) return { result: hex.encode(b.raw) };
        return {
          result: {
            hash: b.hash,
            height: b.height,
            confirmations: chain.height - b.height + 1,
            time: b.time,
            tx: b.txids,
            ...(b.height > 0 ? { previousblockhash: chain.blocks[b.height - 1]!.hash } : {}),
          },
        };
      }
      case 'getrawtransaction': {
        const t = chain.txs.get(String(params[0]));
        if (!t) return rpcError(-5, 'No such mempool or blockchain transaction');
        return params[1] ? rpcError(-8, 'simulator: verbose not supported') : { result: hex.encode(t.raw) };
      }
      case 'gettransaction': {
        const txid = String(params[0]);
        if (!isWalletTx(txid)) return rpcError(-5, 'Invalid or non-wallet transaction id');
        const t = chain.txs.get(txid)!;
        return {
          result: {
            txid,
            hex: hex.encode(t.raw),
            confirmations: chain.confirmations(txid),
            blockhash: chain.blocks[t.height]!.hash,
            blockheight: t.height,
          },
        };
      }
      case 'estimatesmartfee':
        return { result: { feerate: (feeRate * 1000) / 1e8, blocks: params[0] ?? 6 } };
      case 'sendrawtransaction': {
        const h = String(params[0]);
        if (!/^(?:[0-9a-f]{2})+$/.test(h)) return rpcError(-22, 'TX decode failed');
        return { result: chain.accept(hex.decode(h)).txid };
      }
      case 'importdescriptors':
        return importDescriptors(params[0]);
      case 'listunspent': {
        const min = typeof params[0] === 'number' ? params[0] : 1;
        const max = typeof params[1] === 'number' ? params[1] : 9_999_999;
        const out = [];
        for (const [key, u] of chain.utxos) {
          if (!watched.has(u.script)) continue;
          const confirmations = chain.height - u.height + 1;
          if (confirmations < min || confirmations > max) continue;
          const [txid, vout] = key.split(':') as [string, string];
          out.push({
            txid,
            vout: Number(vout),
            address: chain.address(u.script),
            scriptPubKey: u.script,
            amount: btc(u.value),
            confirmations,
            spendable: false,
            solvable: true,
            safe: true,
          });
        }
        return { result: out };
      }
      case 'generatetoaddress': {
        const n = Number(params[0]);
        if (!Number.isSafeInteger(n) || n < 0 || n > 1000) return rpcError(-8, 'bad block count');
        const to = addressToScript(String(params[1]), 'regtest');
        return { result: Array.from({ length: n }, () => chain.mine([], to).hash) };
      }
      case 'sendtoaddress':
        return pay({ [String(params[0])]: params[1] });
      case 'sendmany':
        return pay((params[1] ?? {}) as Record<string, unknown>);
      default:
        return rpcError(-32601, 'Method not found');
    }
  };

  const auth = o.auth ?? { username: 'custos', password: randomBytes(18).toString('base64url') };
  const server = await startRpcServer({
    auth,
    ...(o.host ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    rpc: (call) => {
      try {
        return rpc(call);
      } catch (e) {
        if (e instanceof SimRejection) return rpcError(e.rpcCode, e.shortMessage);
        if ((e as { code?: string }).code === 'INVALID_ADDRESS') return rpcError(-5, 'Invalid address');
        throw e;
      }
    },
  });
  return { url: server.url, auth, chain, close: server.close };
}
