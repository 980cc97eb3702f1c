import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoverAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  buildSignHttpRequest,
  buildStatusHttpRequest,
  ed25519RawPublicKey,
  type SignRequest,
} from '../../src/core/auth/index.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { generateFileKey } from '../../src/keys/file.ts';
import { ANVIL_CHAIN_ID, type Anvil, startAnvil } from '../helpers/anvil.ts';
import {
  approvalsFor,
  bundleFor,
  COORDINATOR_KEY_ID,
  coordinatorKey,
  genesis,
  hotTx,
  intent,
  requester,
} from './fixture.ts';
import { type Daemon, kill9, startDaemon } from './process.ts';

/**
 * The co-signer as a separate OS process (`custos cosigner --config …`), on anvil, killed with
 * SIGKILL in the middle of a signing — inside the ledger transaction, and after its commit but
 * before the response — then restarted on the same PGlite directory. Whatever the moment of the
 * crash, the ledger never lets a second, different transaction through for that intent or nonce.
 */
const CHAIN = `eip155:${ANVIL_CHAIN_ID}`;
const PASS = 'crash-test-passphrase';

let anvil: Anvil;
let dir: string;
let address: `0x${string}`;

beforeAll(async () => {
  anvil = await startAnvil();
  dir = mkdtempSync(join(tmpdir(), 'custos-cosigner-crash-'));
  const k = await generateFileKey({
    path: join(dir, 'key.json'),
    passphrase: PASS,
    label: 'cosigner-a',
    keyType: 'secp256k1',
    scrypt: { N: 1 << 12, r: 8, p: 1 },
  });
  const { secp256k1 } = await import('@noble/curves/secp256k1.js');
  const { publicKeyToAddress } = await import('viem/accounts');
  address = publicKeyToAddress(`0x${secp256k1.Point.fromHex(k.publicKey).toHex(false)}`);
  writeFileSync(join(dir, 'bundle.json'), JSON.stringify([bundleFor(address, CHAIN)]));
  writeFileSync(join(dir, 'genesis.json'), JSON.stringify(genesis));
}, 60_000);

afterAll(async () => {
  await anvil?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, fault?: { point: string; pauseMs: number }): string {
  const cfg = {
    id: 'cosigner-a',
    listen: { host: '127.0.0.1', port: 0 },
    store: { pgliteDir: join(dir, 'db') },
    key: { backend: 'file', path: join(dir, 'key.json'), passphrase: { env: 'COSIGNER_PASSPHRASE' } },
    genesis: { file: join(dir, 'genesis.json') },
    bundle: { file: join(dir, 'bundle.json'), refreshSeconds: 3600 },
    requestKeys: [
      {
        keyId: COORDINATOR_KEY_ID,
        publicKey: Buffer.from(ed25519RawPublicKey(coordinatorKey)).toString('hex'),
      },
    ],
    chains: { evm: { [CHAIN]: anvil.rpcUrl } },
    ...(fault ? { faultInjection: fault } : {}),
  };
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, stringify(cfg));
  return path;
}

async function send(d: Daemon, body: SignRequest) {
  const http = buildSignHttpRequest(
    { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
    'cosigner-a',
    body,
    {
      timestampMs: Date.now(),
      nonce: randomBytes(16),
    },
  );
  const r = await fetch(`${d.url}${http.path}`, { method: 'POST', headers: http.headers, body: http.body });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function status(d: Daemon) {
  const http = buildStatusHttpRequest(
    { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
    'cosigner-a',
    {
      timestampMs: Date.now(),
      nonce: randomBytes(16),
    },
  );
  const r = await fetch(`${d.url}${http.path}`, { headers: http.headers });
  return (await r.json()) as { ledgerEntries: number; bundle: unknown };
}

function request(id: string, tip?: bigint): SignRequest {
  const now = Date.now();
  const i = intent({
    id,
    chain: CHAIN,
    asset: `${CHAIN}/slip44:60`,
    createdAt: new Date(now - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    expiresAt: new Date(now + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  return {
    intent: i,
    requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
    approvals: approvalsFor(i),
    tx: { kind: 'evm-hot', unsignedTx: hotTx({ chainId: ANVIL_CHAIN_ID, nonce: 0, tip }) },
  };
}

const A = 'a1111111-1111-4111-8111-111111111111';
const B = 'b2222222-2222-4222-8222-222222222222';

describe('co-signer process killed mid-flight (kill -9)', () => {
  it('never signs a second, different transaction for the intent or the nonce', async () => {
    // The intent's id is fixed but its times are not: build A once and reuse the exact bytes.
    const reqA = request(A);
    // 1. Killed inside the ledger transaction, after signing, before COMMIT.
    const d1 = await startDaemon(writeConfig('before', { point: 'before-commit', pauseMs: 120_000 }), {
      COSIGNER_PASSPHRASE: PASS,
    });
    expect((await status(d1)).bundle).not.toBeNull();
    const inflight1 = send(d1, reqA).catch((e) => e);
    await d1.waitFor(/fault injection pause/);
    await kill9(d1);
    expect(await inflight1).toBeInstanceOf(Error); // no signature ever left the process

    // 2. Restarted: nothing was committed. Killed again, this time after COMMIT, before replying.
    const d2 = await startDaemon(writeConfig('after', { point: 'after-commit', pauseMs: 120_000 }), {
      COSIGNER_PASSPHRASE: PASS,
    });
    expect((await status(d2)).ledgerEntries).toBe(0);
    const inflight2 = send(d2, reqA).catch((e) => e);
    await d2.waitFor(/fault injection pause/);
    await kill9(d2);
    expect(await inflight2).toBeInstanceOf(Error);

    // 3. Restarted without faults: the committed signing is remembered.
    const d3 = await startDaemon(writeConfig('clean'), { COSIGNER_PASSPHRASE: PASS });
    try {
      expect((await status(d3)).ledgerEntries).toBe(1);
      const same = await send(d3, reqA);
      expect(same.status).toBe(200);
      expect(same.json).toMatchObject({ ok: true, repeated: true });
      const r = same.json.result as { signingHash: `0x${string}`; r: string; s: string; yParity: number };
      expect(
        await recoverAddress({
          hash: r.signingHash,
          signature: `${r.r}${r.s.slice(2)}${r.yParity ? '1c' : '1b'}` as `0x${string}`,
        }),
      ).toBe(address);
      const otherTx = await send(d3, {
        ...reqA,
        tx: {
          kind: 'evm-hot',
          unsignedTx: hotTx({ chainId: ANVIL_CHAIN_ID, nonce: 0, tip: 3n * 10n ** 9n }),
        },
      });
      expect(otherTx).toMatchObject({ status: 409, json: { code: 'LEDGER_INTENT_ALREADY_SIGNED' } });
      const otherIntent = await send(d3, request(B));
      expect(otherIntent).toMatchObject({ status: 409, json: { code: 'LEDGER_SPEND_CONFLICT' } });
    } finally {
      await kill9(d3);
    }
  }, 240_000);
});
