import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { getAddress, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { EvmChain, EvmChainOptions } from '../src/coordinator/chains/evm.ts';
import { type AnvilProcess, freePort, startAnvil } from '../src/coordinator/local/anvil.ts';
import { deployDemoEvm } from '../src/coordinator/local/evm-deploy.ts';
import type { SignatureResult } from '../src/core/auth/index.ts';
import { computeSafeTxHashes, parseSafeTxJson, parseSafeVersion } from '../src/core/chains/evm/index.ts';
import type { WalletRecord } from '../src/core/governance/types.ts';
import type { Intent } from '../src/core/intent/index.ts';
import { memorySigner } from '../src/keys/memory.ts';

/**
 * Safe withdrawal RPC cost, part of the `evm` suite (bench/suites/evm.ts): many 2-of-3 Safes on a
 * real anvil (automine); per round every Safe does build → two owner signatures (memory signers,
 * in this process) → finalize (relayer execTransaction) → broadcast, then the round's receipts are
 * read (`status` per hash, or one `statusMany`). Every request the coordinator's EVM adapter
 * makes goes through a counting proxy (HTTP requests, JSON-RPC calls, per method), and anvil's
 * CPU is read from /proc/<pid>/stat before and after — the numbers are per withdrawal.
 */
const CHAIN = 'eip155:31337';
const TICK_S = 100; // USER_HZ on Linux

export interface WithdrawalCost {
  withdrawals: number;
  httpPerWithdrawal: number;
  callsPerWithdrawal: number;
  anvilCpuMsPerWithdrawal: number;
  coordinatorCpuMsPerWithdrawal: number;
  wallMs: number;
  /** blocks anvil mined per withdrawal (automine puts carriers that arrive together in one block) */
  blocksPerWithdrawal: number;
  /** largest gasUsed among the last round's carriers (the fixed limit must stay well above it) */
  gasUsedMax: number;
  methods: Record<string, number>;
}

export interface Variant {
  name: string;
  options: Partial<EvmChainOptions>;
  /** read the round's receipts with one statusMany instead of status per hash */
  statusMany: boolean;
}

interface Counter {
  http: number;
  calls: number;
  methods: Map<string, number>;
}

/** A loopback HTTP proxy in front of anvil that counts requests and JSON-RPC calls. */
async function countingProxy(target: string): Promise<{ url: string; counter: Counter; server: Server }> {
  const counter: Counter = { http: 0, calls: 0, methods: new Map() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      counter.http++;
      const parsed = JSON.parse(body) as { method: string } | { method: string }[];
      for (const c of Array.isArray(parsed) ? parsed : [parsed]) {
        counter.calls++;
        counter.methods.set(c.method, (counter.methods.get(c.method) ?? 0) + 1);
      }
      try {
        const r = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const text = await r.text();
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(text);
      } catch {
        res.writeHead(502);
        res.end();
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, counter, server };
}

/** The real anvil binary is a child of the npm wrapper; its CPU (user+system) in ms. */
function anvilCpuMs(anvil: AnvilProcess): number {
  const pids = [anvil.proc.pid!];
  for (const task of readdirSync(`/proc/${anvil.proc.pid}/task`)) {
    const kids = readFileSync(`/proc/${anvil.proc.pid}/task/${task}/children`, 'utf8').trim();
    if (kids) pids.push(...kids.split(/\s+/).map(Number));
  }
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  }
  return (ticks * 1000) / TICK_S;
}

const randomKey = (): Hex => `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;

export async function measureSafeWithdrawals(o: {
  safes: number;
  rounds: number;
  variants: Variant[];
  makeChain: (options: EvmChainOptions) => EvmChain;
}): Promise<Record<string, WithdrawalCost>> {
  const anvil = await startAnvil();
  const servers: Server[] = [];
  try {
    const ownerKeys = [randomKey(), randomKey()];
    const signers = ownerKeys.map((k, i) => memorySigner(`owner-${i}`, Buffer.from(k.slice(2), 'hex')));
    const owners = ownerKeys.map((k) => privateKeyToAccount(k).address) as [Hex, Hex];
    const relayerKey = randomKey();
    const deployed = await deployDemoEvm({
      anvilRpc: anvil.rpcUrl,
      chainId: anvil.chainId,
      relayer: relayerKey,
      owners,
      safes: o.safes,
    });
    const wallets: WalletRecord[] = deployed.safes.map((config, i) => ({
      id: `safe-${i}`,
      chain: CHAIN,
      type: 'safe',
      config,
    })) as unknown as WalletRecord[];
    const out: Record<string, WithdrawalCost> = {};
    let n = 0;
    for (const v of o.variants) {
      const proxy = await countingProxy(anvil.rpcUrl);
      servers.push(proxy.server);
      const chain = o.makeChain({
        chain: CHAIN,
        rpcUrl: proxy.url,
        wallets: () => wallets,
        relayerKey,
        ...v.options,
      });
      const withdraw = async (w: WalletRecord): Promise<string> => {
        n++;
        const intent = {
          version: 1,
          id: `0b5f4a8e-4f3a-4c65-9a55-${n.toString(16).padStart(12, '0')}`,
          chain: CHAIN,
          asset: `${CHAIN}/erc20:${deployed.token}`,
          wallet: w.id,
          // a fresh address each time, without an EC key derivation in the measured loop
          destination: getAddress(`0x${randomBytes(20).toString('hex')}`),
          amount: '1000',
          reference: `B-${n}`,
          requestedBy: 'svc-bench',
          createdAt: '2026-01-01T00:00:00Z',
          expiresAt: '2026-01-02T00:00:00Z',
        } as Intent;
        const tx = await chain.build(intent);
        if (tx.kind !== 'safe') throw new Error('not a Safe tx');
        const cfg = w.config as { address: Hex; version: string };
        const { safeTxHash } = computeSafeTxHashes(
          parseSafeVersion(cfg.version),
          31337n,
          cfg.address,
          parseSafeTxJson(tx.safeTx),
        );
        const sigs: SignatureResult[] = await Promise.all(
          signers.map(async (s, i) => {
            const sig = await s.signDigest(Buffer.from(safeTxHash.slice(2), 'hex'));
            const hex = (x: bigint) => x.toString(16).padStart(64, '0');
            return {
              kind: 'safe' as const,
              safeTxHash,
              signer: owners[i]!,
              signature: `0x${hex(sig.r)}${hex(sig.s)}${(27 + sig.recovery).toString(16)}`,
            };
          }),
        );
        const f = await chain.finalize(intent, tx, sigs);
        await chain.broadcast(f.raw);
        return f.txHash;
      };
      const block0 = Number(await anvil.rpc<string>('eth_blockNumber'));
      const cpu0 = anvilCpuMs(anvil);
      const self0 = process.cpuUsage();
      const t0 = performance.now();
      const base = { http: proxy.counter.http, calls: proxy.counter.calls };
      let last: string[] = [];
      for (let r = 0; r < o.rounds; r++) {
        const hashes = await Promise.all(wallets.map(withdraw));
        last = hashes;
        let open = hashes;
        while (open.length > 0) {
          const st = v.statusMany
            ? await chain.statusMany(open)
            : new Map(await Promise.all(open.map(async (h) => [h, await chain.status(h)] as const)));
          const bad = open.filter((h) => st.get(h) === 'failed');
          if (bad.length > 0) throw new Error(`withdrawal failed: ${bad[0]}`);
          open = open.filter((h) => st.get(h) !== 'confirmed');
          if (open.length > 0) await new Promise((res) => setTimeout(res, 50));
        }
      }
      const wallMs = performance.now() - t0;
      const self = process.cpuUsage(self0);
      const count = o.rounds * wallets.length;
      const counted = {
        http: proxy.counter.http,
        calls: proxy.counter.calls,
        methods: [...proxy.counter.methods],
      };
      const anvilMs = anvilCpuMs(anvil) - cpu0;
      const blocks = Number(await anvil.rpc<string>('eth_blockNumber')) - block0;
      let gasUsedMax = 0;
      for (const h of last) {
        const r = await chain.client.getTransactionReceipt({ hash: h as Hex });
        gasUsedMax = Math.max(gasUsedMax, Number(r.gasUsed));
      }
      out[v.name] = {
        withdrawals: count,
        httpPerWithdrawal: (counted.http - base.http) / count,
        callsPerWithdrawal: (counted.calls - base.calls) / count,
        anvilCpuMsPerWithdrawal: anvilMs / count,
        // includes the counting proxy and the two owner signatures made in this process
        coordinatorCpuMsPerWithdrawal: (self.user + self.system) / 1000 / count,
        wallMs,
        gasUsedMax,
        blocksPerWithdrawal: blocks / count,
        methods: Object.fromEntries(counted.methods.map(([m, c]) => [m, Number((c / count).toFixed(2))])),
      };
    }
    return out;
  } finally {
    for (const s of servers) s.close();
    await anvil.stop();
  }
}
