import { loadavg } from 'node:os';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  decodeEventLog,
  encodeAbiParameters,
  formatBlock,
  formatLog,
  getAddress,
  keccak256,
  numberToHex,
  pad,
  parseAbi,
  type RpcBlock,
  type RpcLog,
  toHex,
} from 'viem';
import { EvmChain } from '../../src/coordinator/chains/evm.ts';
import { signSafeTx } from '../../src/core/chains/evm/sign.ts';
import type { Address, Hex } from '../../src/core/chains/evm/types.ts';
import { verifySafeTransaction } from '../../src/core/chains/evm/verify-safe.ts';
import type { EvmWallet } from '../../src/core/chains/evm/wallet-config.ts';
import { buildCustodyIndex, matchBlock, type WatchBlock } from '../../src/core/chains/evm/watch.ts';
import { EXECUTION_SUCCESS_TOPIC, TRANSFER_TOPIC } from '../../src/core/chains/evm/watch-events.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import {
  assets,
  CHAIN,
  DEST,
  erc20Transfer,
  intent,
  safeTx,
  state,
  TOKEN,
  wallet,
} from '../../test/evm/fixtures.ts';
import { measureSafeWithdrawals, type WithdrawalCost } from '../evm-withdrawal.ts';
import { type BenchSuite, measure, measureSync, type SuiteResult } from '../report.ts';

/**
 * EVM bench:
 *  - one co-signer's verification of a Safe ERC-20 transfer (decode calldata, every check,
 *    EIP-712 SafeTx hash, typed data) plus the ECDSA signature through the memorySigner backend;
 *    target ≥ 2,000/s;
 *  - the watchtower on a synthetic block of 200 transactions and 1,000 logs against 10,000
 *    custody addresses (5,000 Safes, 5,000 hot wallets): RPC JSON → viem formatting → matching;
 *    target ≤ 20 ms, reported beside viem alone formatting the block and decoding every log;
 *  - the coordinator's EVM adapter per Safe withdrawal (build + finalize + broadcast + status) on a
 *    real anvil with many 2-of-3 Safes: JSON-RPC requests and anvil CPU, per call (before: no
 *    batching, eth_estimateGas, relayer count and fees read per carrier, status per hash) beside
 *    batched (one HTTP request per tick, fixed carrier gas limit, sampled relayer count and fees,
 *    statusMany), in the same run (bench/evm-withdrawal.ts).
 */
const rnd = (i: number, salt: string): Address =>
  getAddress(`0x${keccak256(toHex(`${salt}${i}`)).slice(26)}`);

function syntheticWallets(): EvmWallet[] {
  const out: EvmWallet[] = [];
  for (let i = 0; i < 5000; i++) {
    out.push({ ...wallet, id: `safe-${i}`, config: { ...wallet.config, address: rnd(i, 'safe') } });
    out.push({ id: `hot-${i}`, chain: CHAIN, type: 'evm-hot', config: { address: rnd(i, 'hot') } });
  }
  return out;
}

/** 200 txs (20 from hot wallets), 1,000 logs: ERC-20 transfers (100 out of custody), 20 Safe executions. */
function syntheticRpcBlock(): { block: RpcBlock; logs: RpcLog[]; known: Set<string> } {
  const known = new Set<string>();
  const txs = Array.from({ length: 200 }, (_, i) => {
    const hash = keccak256(toHex(`tx${i}`));
    const from = i < 20 ? rnd(i, 'hot') : rnd(i, 'eoa');
    if (i < 20) known.add(hash);
    return {
      hash,
      from,
      to: rnd(i, 'to'),
      value: numberToHex(10n ** 18n + BigInt(i)),
      nonce: numberToHex(i),
      input: '0x',
      gas: '0x5208',
      maxFeePerGas: '0x3b9aca00',
      maxPriorityFeePerGas: '0x1',
      gasPrice: '0x3b9aca00',
      type: '0x2',
      chainId: '0x1',
      v: '0x0',
      yParity: '0x0',
      r: pad('0x01'),
      s: pad('0x01'),
      accessList: [],
      blockHash: pad('0xb1'),
      blockNumber: '0x10',
      transactionIndex: numberToHex(i),
    };
  });
  const logs: RpcLog[] = Array.from({ length: 1000 }, (_, i) => {
    const tx = txs[i % 200]!;
    const base = {
      blockHash: pad('0xb1') as Hex,
      blockNumber: '0x10' as Hex,
      transactionHash: tx.hash,
      transactionIndex: tx.transactionIndex as Hex,
      logIndex: numberToHex(i),
      removed: false,
    };
    if (i < 20) {
      // Safe 1.4.1 ExecutionSuccess(bytes32 indexed txHash, uint256 payment)
      return {
        ...base,
        address: rnd(i, 'safe'),
        topics: [EXECUTION_SUCCESS_TOPIC, keccak256(toHex(`safeTx${i}`))],
        data: pad('0x0'),
      };
    }
    const from = i < 120 ? rnd(i, 'hot') : rnd(i, 'holder');
    if (i < 120) known.add(tx.hash);
    return {
      ...base,
      address: TOKEN,
      topics: [TRANSFER_TOPIC, pad(from.toLowerCase() as Hex), pad(rnd(i, 'dst').toLowerCase() as Hex)],
      data: encodeAbiParameters([{ type: 'uint256' }], [BigInt(i) * 1000n]),
    } as RpcLog;
  });
  const block = {
    number: '0x10',
    hash: pad('0xb1'),
    parentHash: pad('0xb0'),
    transactions: txs,
    timestamp: '0x1',
    baseFeePerGas: '0x1',
    gasLimit: '0x1c9c380',
    gasUsed: '0x0',
    difficulty: '0x0',
    extraData: '0x',
    logsBloom: pad('0x0', { size: 256 }),
    miner: rnd(0, 'miner'),
    mixHash: pad('0x0'),
    nonce: '0x0000000000000000',
    receiptsRoot: pad('0x0'),
    sha3Uncles: pad('0x0'),
    size: '0x0',
    stateRoot: pad('0x0'),
    totalDifficulty: '0x0',
    transactionsRoot: pad('0x0'),
    uncles: [],
  } as unknown as RpcBlock;
  return { block, logs, known };
}

const logAbi = parseAbi([
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'event ExecutionSuccess(bytes32 indexed txHash, uint256 payment)',
]);

const suite: BenchSuite = {
  name: 'evm',
  async run(ctx): Promise<SuiteResult> {
    const ms = ctx.quick ? 300 : 2000;
    // --- co-signer: verify + sign a Safe ERC-20 transfer
    const it = intent({ asset: `${CHAIN}/erc20:${TOKEN}`, amount: '500' });
    const tx = safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 500n) });
    const signer = memorySigner('bench', secp256k1.utils.randomSecretKey());
    const vcpu0 = process.cpuUsage();
    const verifyOnly = measureSync(
      () => {
        if (!verifySafeTransaction(it, tx, wallet, state, assets).ok) throw new Error('refused');
      },
      { ms, batch: 50 },
    );
    const vcpu = process.cpuUsage(vcpu0);
    const verifyPerCpuSecond = verifyOnly.iterations / ((vcpu.user + vcpu.system) / 1e6);
    const cosign = async () => {
      const v = verifySafeTransaction(it, tx, wallet, state, assets);
      if (!v.ok) throw new Error(v.code);
      return signSafeTx(v.value.typedData, signer);
    };
    const cpu0 = process.cpuUsage();
    const full = await measure(cosign, { ms });
    const cpu = process.cpuUsage(cpu0);
    // The machine is shared: wall-clock ops/s drops with other processes' load. Operations per
    // CPU-second of this process is the "one core" throughput the target is about.
    const perCpuSecond = full.iterations / ((cpu.user + cpu.system) / 1e6);

    const digest = new Uint8Array(32).fill(7);
    const scpu0 = process.cpuUsage();
    const signOnly = await measure(() => signer.signDigest(digest), { ms });
    const scpu = process.cpuUsage(scpu0);
    const signPerCpuSecond = signOnly.iterations / ((scpu.user + scpu.system) / 1e6);

    // --- watchtower: one synthetic block
    const wallets = syntheticWallets();
    const index = buildCustodyIndex(CHAIN, wallets);
    const { block: rpcBlock, logs: rpcLogs, known } = syntheticRpcBlock();
    const knownSafe = new Set(
      Array.from({ length: 20 }, (_, i) => `safe-${i}:${keccak256(toHex(`safeTx${i}`))}`),
    );
    const lookup = {
      isKnownTx: (h: Hex) => known.has(h),
      isKnownSafeTx: (w: string, h: Hex) => knownSafe.has(`${w}:${h}`),
    };
    const toWatchBlock = (): WatchBlock => {
      const b = formatBlock(rpcBlock);
      const logs = rpcLogs.map((l) => formatLog(l));
      return {
        number: b.number!,
        hash: b.hash!,
        parentHash: b.parentHash,
        transactions: (
          b.transactions as { hash: Hex; from: Address; to: Address | null; value: bigint; nonce: number }[]
        ).map((t) => ({
          hash: t.hash,
          from: t.from,
          to: t.to,
          value: t.value,
          nonce: BigInt(t.nonce),
        })),
        logs: logs.map((l) => ({
          address: l.address,
          topics: l.topics as Hex[],
          data: l.data,
          transactionHash: l.transactionHash!,
          logIndex: l.logIndex!,
        })),
      };
    };
    const sample = matchBlock(toWatchBlock(), index, lookup);
    if (sample.length !== 0)
      throw new Error(`synthetic block should be fully matched, got ${sample.length} alerts`);
    const watchFull = measureSync(() => matchBlock(toWatchBlock(), index, lookup), { ms, batch: 1 });
    const prepared = toWatchBlock();
    const matchOnly = measureSync(() => matchBlock(prepared, index, lookup), { ms, batch: 5 });
    const viemOnly = measureSync(
      () => {
        formatBlock(rpcBlock);
        for (const l of rpcLogs) {
          const f = formatLog(l);
          decodeEventLog({ abi: logAbi, topics: f.topics as [Hex, ...Hex[]], data: f.data, strict: false });
        }
      },
      { ms, batch: 1 },
    );
    // --- coordinator EVM adapter: RPC cost per Safe withdrawal, before/after
    const rpcCost = await measureSafeWithdrawals({
      safes: ctx.quick ? 20 : 100,
      rounds: ctx.quick ? 5 : 10,
      makeChain: (o) => new EvmChain(o),
      variants: [
        {
          name: 'per-call',
          options: { batch: false, safeExecGas: 'estimate', sampleMs: 0 },
          statusMany: false,
        },
        { name: 'batched', options: {}, statusMany: true },
      ],
    });
    const costRow = (name: string, c: WithdrawalCost) => ({
      name,
      opsPerSec: Math.round((c.withdrawals * 1000) / c.wallMs),
      extra: {
        withdrawals: c.withdrawals,
        httpRequestsPerWithdrawal: Number(c.httpPerWithdrawal.toFixed(2)),
        jsonRpcCallsPerWithdrawal: Number(c.callsPerWithdrawal.toFixed(2)),
        anvilCpuMsPerWithdrawal: Number(c.anvilCpuMsPerWithdrawal.toFixed(2)),
        benchProcessCpuMsPerWithdrawal: Number(c.coordinatorCpuMsPerWithdrawal.toFixed(2)),
        blocksPerWithdrawal: Number(c.blocksPerWithdrawal.toFixed(2)),
        carrierGasUsedMax: c.gasUsedMax,
        methods: Object.entries(c.methods)
          .map(([m, n]) => `${m}=${n}`)
          .join(' '),
      },
    });
    const before = rpcCost['per-call']!;
    const after = rpcCost.batched!;
    const oursMs = watchFull.p50Us / 1000;
    const viemMs = viemOnly.p50Us / 1000;
    return {
      suite: 'evm',
      measurements: [
        {
          name: 'Safe tx verify (decode, checks, EIP-712 hash)',
          ...verifyOnly,
          extra: { opsPerCpuSecond: Math.round(verifyPerCpuSecond) },
        },
        {
          name: 'Safe tx co-sign (verify + EIP-712 ECDSA sign, memory signer)',
          ...full,
          extra: {
            opsPerCpuSecond: Math.round(perCpuSecond),
            loadAverage1m: Number(loadavg()[0]!.toFixed(1)),
          },
          target: '≥ 2,000/s on one core (ops per CPU-second)',
          met: perCpuSecond >= 2000,
        },
        {
          name: 'ECDSA signDigest alone (memory signer, libsecp256k1 via tiny-secp256k1)',
          ...signOnly,
          extra: { opsPerCpuSecond: Math.round(signPerCpuSecond) },
        },
        {
          name: 'watchtower block (200 tx, 1,000 logs, 10k addresses): RPC→match',
          ...watchFull,
          extra: {
            msPerBlock: Number(oursMs.toFixed(3)),
            custodyAddresses: wallets.length,
            txs: 200,
            logs: 1000,
          },
          target: '≤ 20 ms',
          met: oursMs <= 20,
        },
        {
          name: 'watchtower matchBlock only (formatted block)',
          ...matchOnly,
          extra: { msPerBlock: Number((matchOnly.p50Us / 1000).toFixed(3)) },
        },
        {
          name: 'viem alone: formatBlock + formatLog + decodeEventLog ×1,000',
          ...viemOnly,
          extra: { msPerBlock: Number(viemMs.toFixed(3)) },
        },
        costRow('Safe withdrawal RPC, per call (before): build+finalize+broadcast+status', before),
        costRow('Safe withdrawal RPC, batched (after): build+finalize+broadcast+statusMany', after),
      ],
      ratios: {
        'watchtower (format+match) / viem decode alone (time, lower is better)': oursMs / viemMs,
        'Safe withdrawal anvil CPU, per call / batched':
          before.anvilCpuMsPerWithdrawal / after.anvilCpuMsPerWithdrawal,
        'Safe withdrawal HTTP requests, per call / batched':
          before.httpPerWithdrawal / after.httpPerWithdrawal,
      },
      notes: [
        'co-sign includes the secp256k1 signature through the Secp256k1Signer interface (memory backend); HSM backends add their own latency',
        'watchtower per-block time excludes RPC fetch and slot-0 reads (network-bound); matching is O(txs + logs) with hash-map lookups',
        'Safe withdrawal RPC: ERC-20 transfers from every Safe at once, round after round, through a counting proxy; anvil CPU from /proc/<pid>/stat (10 ms ticks); the bench process CPU includes the two owner signatures and the proxy; opsPerSec is this loop on a shared machine, not the e2e rate',
      ],
    };
  },
};
export default suite;
