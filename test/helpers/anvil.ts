import { type ChildProcess, spawn } from 'node:child_process';
import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { freePort } from '../../src/coordinator/local/anvil.ts';

/**
 * A real anvil node per test file (npm @foundry-rs/anvil), on a free loopback port, killed on
 * teardown. Tests create their own funded accounts with anvil_setBalance instead of relying on
 * anvil's well-known dev keys.
 */
const ANVIL = new URL('../../node_modules/.bin/anvil', import.meta.url).pathname;
export const ANVIL_CHAIN_ID = 31337;

export interface Anvil {
  rpcUrl: string;
  chain: Chain;
  client: PublicClient<Transport, Chain>;
  /** raw JSON-RPC call (anvil_* cheat codes) */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  wallet(privateKey: Hex): WalletClient<Transport, Chain, Account>;
  fund(address: Hex, wei: bigint): Promise<void>;
  mine(blocks?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startAnvil(opts: { blockTime?: number } = {}): Promise<Anvil> {
  const port = await freePort();
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--chain-id',
    String(ANVIL_CHAIN_ID),
    '--accounts',
    '1',
    '--disable-code-size-limit',
    ...(opts.blockTime ? ['--block-time', String(opts.blockTime)] : []),
  ];
  // Own process group (the npm wrapper spawns the real binary): teardown signals the whole group,
  // and a worker that exits without teardown still takes its anvil down with it.
  const proc: ChildProcess = spawn(ANVIL, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (proc.pid) process.kill(-proc.pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const rpcUrl = `http://127.0.0.1:${port}`;
  let id = 0;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`anvil exited with ${proc.exitCode}: ${stderr}`);
    try {
      await rpc('eth_chainId');
      break;
    } catch {
      if (Date.now() > deadline) {
        killGroup('SIGKILL');
        throw new Error(`anvil did not start on ${rpcUrl}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const chain = defineChain({
    id: ANVIL_CHAIN_ID,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const transport = http(rpcUrl, { retryCount: 0 });
  const client = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient<
    Transport,
    Chain
  >;
  return {
    rpcUrl,
    chain,
    client,
    rpc,
    wallet: (pk) => createWalletClient({ account: privateKeyToAccount(pk), chain, transport }),
    fund: async (address, wei) => {
      await rpc('anvil_setBalance', [address, `0x${wei.toString(16)}`]);
    },
    mine: async (blocks = 1) => {
      await rpc('anvil_mine', [`0x${blocks.toString(16)}`]);
    },
    stop: async () => {
      process.removeListener('exit', onExit);
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      killGroup('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (proc.exitCode === null) killGroup('SIGKILL');
    },
  };
}
