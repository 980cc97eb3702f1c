import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { CustosError } from '../../core/errors/base.ts';

/** Where npm puts the anvil binary (@foundry-rs/anvil, a dev dependency). */
export const ANVIL_BIN = new URL('../../../node_modules/.bin/anvil', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface AnvilProcess {
  rpcUrl: string;
  chainId: number;
  proc: ChildProcess;
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /**
   * How the chain mines from now on: 0 = automine (a block per transaction, anvil's default),
   * n > 0 = a block every n seconds holding whatever arrived meanwhile, as a real chain does.
   */
  setBlockTime(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a local anvil on a free loopback port (optionally persisting its state to a file). */
export async function startAnvil(
  opts: { chainId?: number; stateFile?: string; blockTime?: number } = {},
): Promise<AnvilProcess> {
  if (!existsSync(ANVIL_BIN)) {
    throw new CustosError(
      'ANVIL_MISSING',
      'node_modules/.bin/anvil not found (npm ci installs @foundry-rs/anvil)',
    );
  }
  const port = await freePort();
  const chainId = opts.chainId ?? 31337;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--chain-id',
    String(chainId),
    '--accounts',
    '1',
  ];
  if (opts.stateFile) args.push('--state', opts.stateFile);
  if (opts.blockTime) args.push('--block-time', String(opts.blockTime));
  const proc = spawn(ANVIL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
    if (body.error) throw new CustosError('ANVIL_RPC', `${method}: ${body.error.message}`);
    return body.result as T;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await rpc('eth_chainId');
      break;
    } catch {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new CustosError('ANVIL_START_FAILED', `anvil did not start: ${stderr.slice(0, 300)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    rpcUrl,
    chainId,
    proc,
    rpc,
    async setBlockTime(seconds: number) {
      if (!Number.isInteger(seconds) || seconds < 0)
        throw new CustosError('ANVIL_BLOCK_TIME', `block time must be whole seconds ≥ 0, got ${seconds}`);
      if (seconds === 0) {
        await rpc('evm_setIntervalMining', [0]);
        await rpc('evm_setAutomine', [true]);
      } else {
        await rpc('evm_setAutomine', [false]);
        await rpc('evm_setIntervalMining', [seconds]);
      }
    },
    async stop() {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
