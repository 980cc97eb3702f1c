import { createServer, type Server } from 'node:http';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { encodeFunctionData, erc20Abi, type Hex, keccak256, toHex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvmChain } from '../../src/coordinator/chains/evm.ts';
import { freePort } from '../../src/coordinator/local/anvil.ts';
import type { SignatureResult, TxPayload } from '../../src/core/auth/index.ts';
import {
  computeSafeTxHashes,
  parseSafeTxJson,
  parseSafeVersion,
  safeTxToJson,
} from '../../src/core/chains/evm/index.ts';
import { signerAddress, signSafeTx } from '../../src/core/chains/evm/sign.ts';
import { safeTypedData } from '../../src/core/chains/evm/typed-data.ts';
import type { SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import type { WalletRecord } from '../../src/core/governance/types.ts';
import type { Intent } from '../../src/core/intent/index.ts';
import { CHAIN, startWorld, type World } from '../evm/world.ts';

/**
 * The coordinator's EVM adapter on a real anvil: `statusMany` reads many carriers' receipts in ONE
 * JSON-RPC batch request and classifies each exactly as `status` does — confirmed; failed for a
 * reverted execTransaction and for a mined one whose Safe emitted ExecutionFailure; pending for a
 * hash the node does not know. Requests are counted by a loopback proxy in front of anvil.
 */
let w: World;
let safe: SafeWallet;
let chain: EvmChain;
let proxy: Server;
let rpcUrl: string;
const seen: { http: number; calls: string[] } = { http: 0, calls: [] };
/** When set, the proxy answers every batch array as an endpoint without batch support does. */
let refuseBatches = false;

beforeAll(async () => {
  w = await startWorld();
  safe = await w.newSafe('w', '1.4.1', false);
  const port = await freePort();
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const parsed = JSON.parse(body) as { method: string } | { method: string }[];
      seen.http++;
      for (const c of Array.isArray(parsed) ? parsed : [parsed]) seen.calls.push(c.method);
      if (refuseBatches && Array.isArray(parsed)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch requests not supported"}}',
        );
        return;
      }
      const r = await fetch(w.anvil.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(await r.text());
    });
  });
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  const relayerKey = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}` as Hex;
  const { privateKeyToAccount } = await import('viem/accounts');
  await w.anvil.fund(privateKeyToAccount(relayerKey).address, 10n ** 21n);
  rpcUrl = `http://127.0.0.1:${port}`;
  chain = new EvmChain({
    chain: CHAIN,
    rpcUrl,
    wallets: () => [safe as unknown as WalletRecord],
    relayerKey,
  });
}, 180_000);
afterAll(async () => {
  proxy?.close();
  await w?.stop();
});

/** Both co-signer keys sign the SafeTx's EIP-712 typed data (what each co-signer does after verifying). */
async function ownerSignatures(tx: TxPayload): Promise<SignatureResult[]> {
  if (tx.kind !== 'safe') throw new Error('not a Safe tx');
  const fields = parseSafeTxJson(tx.safeTx);
  const version = parseSafeVersion(safe.config.version);
  const td = safeTypedData(version, 31337n, safe.config.address, fields);
  const { safeTxHash } = computeSafeTxHashes(version, 31337n, safe.config.address, fields);
  return Promise.all(
    w.cosigners.map(async (s) => {
      const r = await signSafeTx(td, s);
      expect(r.safeTxHash).toBe(safeTxHash);
      return { kind: 'safe' as const, safeTxHash, signer: await signerAddress(s), signature: r.signature };
    }),
  );
}

async function send(intent: Intent, tx: TxPayload): Promise<string> {
  const f = await chain.finalize(intent, tx, await ownerSignatures(tx));
  await chain.broadcast(f.raw);
  for (let i = 0; i < 100 && (await chain.status(f.txHash)) === 'pending'; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return f.txHash;
}

const tokenIntent = (amount: bigint): Intent =>
  w.intent({ wallet: 'w', asset: `${CHAIN}/erc20:${w.token}`, amount: amount.toString() });

describe('EvmChain.statusMany on anvil', () => {
  const hashes: Record<'confirmed' | 'reverted' | 'executionFailure' | 'unknown', string> = {
    confirmed: '',
    reverted: '',
    executionFailure: '',
    unknown: keccak256(toHex('no such transaction')),
  };

  beforeAll(async () => {
    // 1. an ERC-20 withdrawal the Safe can pay
    const ok = tokenIntent(1000n);
    hashes.confirmed = await send(ok, await chain.build(ok));
    // 2. more tokens than the Safe holds, built as Custos builds (safeTxGas 0, gasPrice 0): the
    //    failing inner transfer reverts the whole execTransaction (GS013); the carrier is mined reverted
    const tooMuch = tokenIntent(10n ** 18n);
    hashes.reverted = await send(tooMuch, await chain.build(tooMuch));
    // 3. the same failing transfer with safeTxGas ≠ 0: the Safe catches the failure, emits
    //    ExecutionFailure and the carrier mines with status 1 (how a Safe < 1.3.0 behaves anyway)
    const caught = tokenIntent(10n ** 18n);
    const built = await chain.build(caught);
    if (built.kind !== 'safe') throw new Error('not a Safe tx');
    const fields = { ...parseSafeTxJson(built.safeTx), safeTxGas: 100_000n };
    fields.data = encodeFunctionData({
      abi: erc20Abi,
      functionName: 'transfer',
      args: [caught.destination as Hex, 10n ** 18n],
    });
    hashes.executionFailure = await send(caught, {
      ...built,
      safeTx: safeTxToJson(fields) as Record<string, unknown>,
    });
  }, 120_000);

  it('classifies confirmed, reverted, ExecutionFailure and unknown hashes in one batch request', async () => {
    const all = Object.values(hashes);
    const before = { http: seen.http, calls: seen.calls.length };
    const many = await chain.statusMany(all);
    expect(seen.http - before.http).toBe(1);
    expect(seen.calls.slice(before.calls)).toEqual(all.map(() => 'eth_getTransactionReceipt'));
    expect(Object.fromEntries(Object.entries(hashes).map(([k, h]) => [k, many.get(h)]))).toEqual({
      confirmed: 'confirmed',
      reverted: 'failed',
      executionFailure: 'failed',
      unknown: 'pending',
    });
  });

  it('agrees with status for every hash', async () => {
    const all = Object.values(hashes);
    const many = await chain.statusMany(all);
    for (const h of all) expect(many.get(h)).toBe(await chain.status(h));
    const receipt = await w.anvil.client.getTransactionReceipt({ hash: hashes.executionFailure as Hex });
    expect(receipt.status).toBe('success');
  });

  it('answers every hash of a list with repeats and an empty list', async () => {
    const many = await chain.statusMany([hashes.confirmed, hashes.confirmed, hashes.unknown]);
    expect([...many.entries()]).toEqual([
      [hashes.confirmed, 'confirmed'],
      [hashes.unknown, 'pending'],
    ]);
    expect((await chain.statusMany([])).size).toBe(0);
  });

  it('an endpoint without batch support: batch: false reads one receipt per hash; a batched adapter agrees with status', async () => {
    const all = Object.values(hashes);
    const unbatched = new EvmChain({
      chain: CHAIN,
      rpcUrl,
      wallets: () => [safe as unknown as WalletRecord],
      batch: false,
    });
    refuseBatches = true;
    try {
      const mark = seen.http;
      const viaOption = await unbatched.statusMany(all);
      expect(all.map((h) => viaOption.get(h))).toEqual(['confirmed', 'failed', 'failed', 'pending']);
      expect(seen.http - mark).toBe(all.length);
      // The batched adapter gets no answer from this endpoint at all: it never says confirmed or
      // failed without a receipt, and statusMany says what status says.
      const refused = await chain.statusMany(all);
      for (const h of all) expect(refused.get(h)).toBe(await chain.status(h));
      expect([...refused.values()]).toEqual(all.map(() => 'pending'));
    } finally {
      refuseBatches = false;
    }
  });

  it('a withdrawal makes no gas estimate and no chain id read', async () => {
    const before = seen.calls.length;
    const a = tokenIntent(1n);
    await send(a, await chain.build(a));
    const calls = seen.calls.slice(before);
    expect(calls).not.toContain('eth_estimateGas');
    expect(calls).not.toContain('eth_chainId');
    expect(calls.filter((m) => m === 'eth_sendRawTransaction')).toHaveLength(1);
  });
});
