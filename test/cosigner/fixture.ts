import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { FastifyInstance } from 'fastify';
import { serializeTransaction } from 'viem';
import type { Approval } from '../../src/core/approval/index.ts';
import {
  buildSignHttpRequest,
  ed25519PrivateKey,
  ed25519PublicKey,
  ed25519RawPublicKey,
  type SignRequest,
  signRequest,
} from '../../src/core/auth/index.ts';
import { signerAddress } from '../../src/core/chains/evm/index.ts';
import { ok } from '../../src/core/errors/base.ts';
import type { TrustBundle } from '../../src/core/governance/types.ts';
import { type Intent, intentDigest } from '../../src/core/intent/index.ts';
import { COSIGNER_MIGRATIONS_DIR } from '../../src/cosigner/daemon.ts';
import type { EvmChainReader } from '../../src/cosigner/evm-rpc.ts';
import type { PipelineDeps } from '../../src/cosigner/pipeline.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import { buildServer } from '../../src/cosigner/server.ts';
import { governanceBundleVerifier, type TrustStore, trustStore } from '../../src/cosigner/trust.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import type { Db } from '../../src/store/db.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { approveEd, EdKey, makeIntent, principal, T0 } from '../approval/fixtures.ts';
import { Admin, config, firstBundle, genesisOf } from '../governance/fixtures.ts';

export { T0 };
export const DEST = '0x52908400098527886E0F7030069857D2E4169EE7';
export const OTHER_DEST = '0x8617E340B3D01FA5F11F306F4090FD50E238070D';
export const NOW = Date.parse(T0) + 60_000;

export const admins = [new Admin('admin-1'), new Admin('admin-2'), new Admin('admin-3')];
export const requester = new EdKey('svc-key');
export const approvers = {
  alice: new EdKey('alice-key'),
  bob: new EdKey('bob-key'),
  carol: new EdKey('carol-key'),
};
export const coordinatorKey = ed25519PrivateKey(new Uint8Array(32).fill(42));
export const COORDINATOR_KEY_ID = 'coordinator-1';
/** The co-signer's secp256k1 key (memory backend: a test double for the keystore/HSM backends). */
export const COSIGNER_SECRET = new Uint8Array(32).fill(0x11);

export const policyDocFor = (chain = 'eip155:1') => ({
  version: 1,
  name: 'cosigner-test',
  assets: { [`${chain}/slip44:60`]: { symbol: 'ETH', decimals: 18 } },
  groups: { treasury: { members: ['alice', 'bob', 'carol'] } },
  rules: [
    {
      name: 'block-unknown-destination',
      when: { destination: { known: false } },
      action: 'block',
      reason: 'only address-book destinations',
    },
    {
      name: 'approve-eth',
      when: { asset: ['ETH'] },
      action: 'approve',
      approve: { quorum: 2, from: ['treasury'], expiresAfter: '24h' },
    },
  ],
  limits: [
    {
      name: 'wallet-daily',
      match: { asset: ['ETH'] },
      per: ['wallet'],
      window: '24h',
      sum: '3 ETH',
      onExceed: 'block',
    },
  ],
});
export const policyDoc = policyDocFor();

export function principals() {
  return [
    ...admins.map((a) => a.principal()),
    principal('svc-backoffice', ['requester'], [], [requester.credential()]),
    principal('alice', ['approver'], ['treasury'], [approvers.alice.credential()]),
    principal('bob', ['approver'], ['treasury'], [approvers.bob.credential()]),
    principal('carol', ['approver'], ['treasury'], [approvers.carol.credential()]),
  ];
}

export function bundleFor(walletAddress: string, chain = 'eip155:1'): TrustBundle {
  return firstBundle(
    admins,
    config(admins, {
      policy: policyDocFor(chain),
      principals: principals(),
      addressBook: [
        {
          chain,
          address: DEST,
          label: 'cold storage',
          category: 'cold-storage',
          status: 'active',
          addedAt: '2026-01-01T00:00:00Z',
          activeFrom: '2026-01-02T00:00:00Z',
        },
      ],
      wallets: [{ id: 'hot-1', chain, type: 'evm-hot', config: { address: walletAddress } }],
    }),
  );
}

export const genesis = genesisOf(admins);

export function intent(over: Partial<Intent> = {}): Intent {
  return makeIntent({ maxFee: '2100000000000000', ...over });
}

export function hotTx(
  over: {
    nonce?: number;
    to?: `0x${string}`;
    value?: bigint;
    gas?: bigint;
    tip?: bigint;
    chainId?: number;
  } = {},
): `0x${string}` {
  return serializeTransaction({
    type: 'eip1559',
    chainId: over.chainId ?? 1,
    nonce: over.nonce ?? 7,
    to: over.to ?? DEST,
    value: over.value ?? 10n ** 18n,
    gas: over.gas ?? 21_000n,
    maxFeePerGas: 100n * 10n ** 9n,
    maxPriorityFeePerGas: over.tip ?? 10n ** 9n,
  });
}

export function approvalsFor(i: Intent, who: (keyof typeof approvers)[] = ['alice', 'bob']): Approval[] {
  return who.map((w) => approveEd(i, approvers[w], w));
}

export function signRequestFor(i: Intent, over: Partial<SignRequest> = {}): SignRequest {
  return {
    intent: i,
    requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
    approvals: approvalsFor(i),
    tx: { kind: 'evm-hot', unsignedTx: hotTx() },
    ...over,
  };
}

/** TEST DOUBLE for the co-signer's RPC endpoint: a fixed chain state (anvil is used in the e2e test). */
export function fixedChain(state: { chainId: bigint; nonce: bigint }): EvmChainReader {
  return {
    hotState: async () => ok(state),
    safeState: async () => ({ ok: false, code: 'CHAIN_NOT_CONFIGURED', message: 'no Safe in this test' }),
  };
}

export async function migrateCosigner(db: Db): Promise<Db> {
  await migrate(db, loadMigrations(COSIGNER_MIGRATIONS_DIR));
  return db;
}

export interface Harness {
  app: FastifyInstance;
  deps: PipelineDeps;
  trust: TrustStore;
  signer: Secp256k1Signer;
  address: `0x${string}`;
  clock: { now: number };
  /** Sends a correctly signed request; `mutate` can alter what goes on the wire after signing. */
  send(
    body: SignRequest,
    mutate?: (r: { headers: Record<string, string>; body: string }) => void,
  ): Promise<{
    status: number;
    json: Record<string, unknown> & { code?: string };
    raw: { headers: Record<string, string>; body: string };
  }>;
  replay(raw: {
    headers: Record<string, string>;
    body: string;
  }): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Signs and sends an arbitrary body string (malformed-input tests). */
  sendText(body: string): Promise<{ status: number; json: Record<string, unknown> }>;
}

export async function harness(
  db: Db,
  opts: { nonce?: bigint; signer?: Secp256k1Signer; bundle?: (address: string) => TrustBundle } = {},
): Promise<Harness> {
  const signer = opts.signer ?? memorySigner('cosigner-a', COSIGNER_SECRET);
  const address = await signerAddress(signer);
  const clock = { now: NOW };
  const trust = trustStore(db, genesis, governanceBundleVerifier(), () => clock.now);
  const accepted = await trust.accept([(opts.bundle ?? bundleFor)(address)]);
  if (!accepted.ok) throw new Error(`bundle refused: ${accepted.code} ${accepted.message}`);
  const pub = ed25519PublicKey(ed25519RawPublicKey(coordinatorKey));
  const deps: PipelineDeps = {
    db,
    signer,
    checks: realChecks({
      evm: fixedChain({ chainId: 1n, nonce: opts.nonce ?? 7n }),
      evmSignerAddress: address,
    }),
    trust: trust.current,
    cosignerId: 'cosigner-a',
    requestKey: (id) => (id === COORDINATOR_KEY_ID ? pub : undefined),
    now: () => clock.now,
  };
  const app = buildServer(deps);
  const inject = async (raw: { headers: Record<string, string>; body: string }) => {
    const r = await app.inject({ method: 'POST', url: '/v1/sign', headers: raw.headers, payload: raw.body });
    return { status: r.statusCode, json: r.json() };
  };
  return {
    app,
    deps,
    trust,
    signer,
    address,
    clock,
    async send(body, mutate) {
      const http = buildSignHttpRequest(
        { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
        'cosigner-a',
        body,
        {
          timestampMs: clock.now,
          nonce: randomBytes(16),
        },
      );
      const raw = { headers: http.headers, body: http.body };
      mutate?.(raw);
      return { ...(await inject(raw)), raw };
    },
    replay: inject,
    sendText(body) {
      const headers = signRequest(coordinatorKey, {
        keyId: COORDINATOR_KEY_ID,
        audience: 'cosigner-a',
        method: 'POST',
        path: '/v1/sign',
        body,
        timestampMs: clock.now,
        nonce: randomBytes(16),
      });
      return inject({ headers: { ...headers, 'content-type': 'application/json' }, body });
    },
  };
}

export { secp256k1 };
