import { randomBytes, sign } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { base64urlnopad } from '@scure/base';
import { getAddress, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { stringify } from 'yaml';
import { voteDigest } from '../../core/approval/index.ts';
import { ed25519PrivateKey, ed25519RawPublicKey } from '../../core/auth/index.ts';
import { draftProposal, proposalDigest } from '../../core/governance/index.ts';
import type { BundleConfig, Genesis } from '../../core/governance/types.ts';
import type { Principal } from '../../core/identity/types.ts';
import { generateFileKey } from '../../keys/file.ts';
import { AuditLog } from '../../store/audit.ts';
import { GovernanceService } from '../../store/governance/service.ts';
import { openDb } from '../../store/open.ts';
import {
  type BitcoinNodeAccess,
  coordinatorBitcoinSection,
  EVM_KEY_PATH,
  evmPublicKey,
  type LocalBitcoin,
  multisigKeyExpression,
  setupBitcoinWallet,
} from './bitcoin.ts';
import { demoPolicy } from './demo-policy.ts';
import { deployDemoEvm } from './evm-deploy.ts';

/**
 * A complete local deployment's files and chain state: keys (Ed25519 admin/requester/approvers/
 * coordinator, co-signer keystores holding BIP 32 seeds), 2-of-3 Safes and a test ERC-20 on anvil,
 * optionally the 2-of-3 regtest Bitcoin wallet on a node (bitcoin.ts), the first admin-signed
 * trust bundle (demo policy, principals, address book, the wallets) executed into
 * the coordinator's database, and the YAML configurations of the coordinator and two co-signers.
 * Every secret is in a 0600 file under `dir`; nothing is printed but public keys and the demo
 * credentials file path.
 */
export interface LocalSetupOptions {
  dir: string;
  anvilRpc: string;
  chainId: number;
  coordinatorPort: number;
  /**
   * Split the coordinator (PostgreSQL only): the process on `coordinatorPort` serves the API
   * (`role: api`), a second one on this port runs the workflow and the watchtowers (`role: workflow`).
   */
  workflowPort?: number;
  cosignerPorts: [number, number];
  /** postgres://… for the coordinator (and co-signers, each in its own schema); else PGlite. */
  databaseUrl?: string;
  schemaPrefix?: string;
  /** Lighter scrypt for tests (the default is the keystore's production setting). */
  scrypt?: { N: number; r: number; p: number };
  /** Extra coordinator config keys (tests: worker timing, fault injection). */
  coordinatorExtra?: Record<string, unknown>;
  /** How many 2-of-3 Safes to deploy (safe-1 … safe-N, same owners, all in the bundle). Default 1. */
  safes?: number;
  /**
   * The regtest node for the Bitcoin wallet (the local simulator or a real `bitcoind -regtest`
   * with a funded `faucet` wallet and a watch-only `custody` wallet); none: EVM only.
   */
  bitcoin?: BitcoinNodeAccess;
}

export interface DemoKey {
  principal: string;
  credentialId: string;
  /** Ed25519 seed, hex (demo credential: anyone holding it can sign as this principal) */
  seed: string;
  publicKey: string;
}

export interface LocalSetup {
  dir: string;
  chain: string;
  chainId: number;
  anvilRpc: string;
  coordinatorUrl: string;
  coordinatorConfig: string;
  /** The workflow process's configuration and URL when the coordinator is split (workflowPort). */
  workflow?: { config: string; url: string };
  cosigners: {
    id: string;
    url: string;
    config: string;
    /** Safe owner address (the key at `evmPath` of the co-signer's BIP 32 seed). */
    address: string;
    evmPath: string;
    /** The co-signer's key expression in the Bitcoin descriptor. */
    bitcoinKey: string;
  }[];
  /** safe-1's address. */
  safe: string;
  safes: { id: string; address: string }[];
  token: string;
  assets: { native: string; token: string };
  destinations: { label: string; address: string }[];
  readToken: string;
  requestKey: DemoKey;
  requester: DemoKey;
  approvers: DemoKey[];
  admin: DemoKey;
  relayer: string;
  bitcoin?: LocalBitcoin;
}

function secretFile(path: string, value: string): string {
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

function edKey(principal: string, credentialId: string): DemoKey {
  const seed = randomBytes(32);
  const publicKey = bytesToHex(ed25519RawPublicKey(ed25519PrivateKey(seed)));
  return { principal, credentialId, seed: seed.toString('hex'), publicKey };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function setupLocal(o: LocalSetupOptions): Promise<LocalSetup> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const chain = `eip155:${o.chainId}`;
  const now = Date.now();

  // Keys.
  const admin = edKey('admin', 'admin-key');
  const requester = edKey('svc-backoffice', 'svc-backoffice-key');
  const approvers = [edKey('ops-alice', 'ops-alice-key'), edKey('ops-bob', 'ops-bob-key')];
  const requestKey = edKey('coordinator', 'coordinator-1');
  const relayer = `0x${bytesToHex(secp256k1.utils.randomSecretKey())}` as Hex;
  const readToken = base64urlnopad.encode(randomBytes(24));
  const cosignerIds = ['cosigner-a', 'cosigner-b'];
  const cosigners: LocalSetup['cosigners'] = [];
  for (const [i, id] of cosignerIds.entries()) {
    const cdir = join(o.dir, id);
    mkdirSync(cdir, { recursive: true, mode: 0o700 });
    const passphrase = base64urlnopad.encode(randomBytes(24));
    secretFile(join(cdir, 'passphrase'), passphrase);
    // One BIP 32 seed per co-signer: the Safe owner key at EVM_KEY_PATH, the Bitcoin multisig
    // key at the BIP 48 account path.
    const seed = new Uint8Array(randomBytes(32));
    await generateFileKey({
      path: join(cdir, 'key.json'),
      passphrase,
      label: id,
      keyType: 'bip32-seed',
      secret: seed,
      ...(o.scrypt ? { scrypt: o.scrypt } : {}),
    });
    cosigners.push({
      id,
      url: `http://127.0.0.1:${o.cosignerPorts[i]}`,
      config: join(cdir, 'cosigner.yaml'),
      address: ethAddress(bytesToHex(evmPublicKey(seed))),
      evmPath: EVM_KEY_PATH,
      bitcoinKey: multisigKeyExpression(seed),
    });
    seed.fill(0);
  }

  // Chain: 2-of-3 Safes (two co-signer owners + an offline recovery owner) and a test ERC-20.
  const { safes, token, relayerAddress } = await deployDemoEvm({
    anvilRpc: o.anvilRpc,
    chainId: o.chainId,
    relayer,
    owners: [cosigners[0]!.address as Hex, cosigners[1]!.address as Hex],
    safes: o.safes ?? 1,
  });
  const safe = safes[0]!;

  // Bitcoin: the 2-of-3 sh(wsh(sortedmulti)) regtest wallet (co-signers + an offline recovery key).
  const btc = o.bitcoin
    ? await setupBitcoinWallet(
        o.bitcoin,
        cosigners.map((c) => c.bitcoinKey),
      )
    : undefined;
  const bitcoin = btc?.local;

  // Trust bundle 1, signed by the genesis admin key.
  const assets = { native: `${chain}/slip44:60`, token: `${chain}/erc20:${token}` };
  const destinations = [
    { label: 'Exchange hot wallet', address: privateKeyToAccount(`0x${'a1'.repeat(32)}`).address },
    { label: 'Cold storage', address: privateKeyToAccount(`0x${'b2'.repeat(32)}`).address },
  ];
  const principal = (
    k: DemoKey,
    kind: Principal['kind'],
    roles: Principal['roles'],
    groups: string[],
  ): Principal => ({
    id: k.principal,
    kind,
    roles,
    groups,
    status: 'active',
    credentials: [
      {
        id: k.credentialId,
        type: 'ed25519',
        publicKey: k.publicKey,
        status: 'active',
        addedAt: iso(now - 86_400_000),
      },
    ],
  });
  const config: BundleConfig = {
    policy: demoPolicy({ ...assets, ...(bitcoin ? { bitcoin: bitcoin.asset } : {}) }),
    principals: [
      principal(admin, 'user', ['admin'], []),
      principal(requester, 'service', ['requester'], []),
      ...approvers.map((a) => principal(a, 'user', ['approver'], ['operations'])),
    ],
    addressBook: [
      ...destinations.map((d) => ({ chain, ...d })),
      ...(bitcoin?.destinations.map((d) => ({ chain: bitcoin.chain, ...d })) ?? []),
    ].map((d) => ({
      chain: d.chain,
      address: d.address,
      label: d.label,
      category: 'exchange',
      status: 'active' as const,
      addedAt: iso(now - 3 * 86_400_000),
      activeFrom: iso(now - 2 * 86_400_000),
    })),
    wallets: [
      ...safes.map((s, n) => ({
        id: `safe-${n + 1}`,
        chain,
        type: 'safe' as const,
        config: s as unknown as Record<string, unknown>,
      })),
      ...(btc ? [btc.record] : []),
    ],
    screening: [],
    checkpointKeys: [],
    admin: { quorum: 1, delayFloorMs: 0 },
  };
  const genesis: Genesis = { adminKeys: [admin.publicKey], quorum: 1 };
  const genesisFile = join(o.dir, 'genesis.json');
  writeFileSync(genesisFile, `${JSON.stringify(genesis, null, 2)}\n`);
  const doc = draftProposal({ current: null, genesis, config, proposedAt: iso(now), delayMs: 0 });
  const signature = {
    principal: `genesis:${admin.publicKey}`,
    credentialId: 'genesis',
    publicKey: admin.publicKey,
    signature: base64urlnopad.encode(
      sign(
        null,
        voteDigest(proposalDigest(doc), 'approve'),
        ed25519PrivateKey(Buffer.from(admin.seed, 'hex')),
      ),
    ),
  };

  // Coordinator configuration and database with the executed bundle.
  const cdir = join(o.dir, 'coordinator');
  mkdirSync(cdir, { recursive: true, mode: 0o700 });
  const schema = o.databaseUrl ? `${o.schemaPrefix ?? 'custos'}_coordinator` : undefined;
  const dbUrlFile = o.databaseUrl ? secretFile(join(cdir, 'database-url'), o.databaseUrl) : undefined;
  const db = await openDb(
    o.databaseUrl
      ? { databaseUrl: o.databaseUrl, ...(schema ? { schema } : {}) }
      : { dataDir: join(cdir, 'db') },
  );
  try {
    const gov = new GovernanceService(db, {
      genesis,
      now: () => new Date().toISOString(),
      audit: new AuditLog(db, { now: () => new Date().toISOString() }),
    });
    const p = await gov.propose(doc, signature);
    if (!p.ok) throw new Error(`bundle proposal refused: ${p.code} ${p.message}`);
    const e = await gov.execute(p.value.digest);
    if (!e.ok) throw new Error(`bundle execution refused: ${e.code} ${e.message}`);
  } finally {
    await db.close();
  }
  const coordinatorUrl = `http://127.0.0.1:${o.coordinatorPort}`;
  const coordinatorConfig = join(cdir, 'custos.yaml');
  const coordinatorDoc = {
    version: 1,
    listen: { host: '127.0.0.1', port: o.coordinatorPort },
    publicUrl: coordinatorUrl,
    database: dbUrlFile
      ? { postgres: { url: { file: dbUrlFile }, schema } }
      : { pgliteDir: join(cdir, 'db') },
    genesis: { file: genesisFile },
    requestKey: {
      keyId: requestKey.credentialId,
      seed: { file: secretFile(join(cdir, 'request-key'), requestKey.seed) },
    },
    cosigners: cosigners.map((c) => ({ id: c.id, url: c.url })),
    chains: {
      evm: {
        [chain]: {
          rpc: o.anvilRpc,
          relayerKey: { file: secretFile(join(cdir, 'relayer-key'), relayer) },
          // A local node: look for blocks often. Each new block also wakes the confirmation
          // checks of the withdrawals it may hold (worker.confirmPollMs is only the fallback).
          watch: { pollMs: 100 },
        },
      },
      ...(bitcoin
        ? {
            bitcoin: coordinatorBitcoinSection(
              bitcoin,
              secretFile(
                join(cdir, 'bitcoin-rpc-credentials'),
                `${bitcoin.node.auth.username}:${bitcoin.node.auth.password}`,
              ),
            ),
          }
        : {}),
    },
    api: {
      rateLimit: { perSecond: 1000, burst: 2000 },
      readTokens: [
        { principal: 'auditor', token: { file: secretFile(join(cdir, 'read-token'), readToken) } },
      ],
    },
    trustRefreshMs: 1000,
    ...(o.coordinatorExtra ?? {}),
  };
  const writeConfig = (path: string, doc: Record<string, unknown>) =>
    writeFileSync(path, `# Generated by custos up (local demo deployment)\n${stringify(doc)}`, {
      mode: 0o600,
    });
  const split = o.workflowPort !== undefined;
  if (split && !dbUrlFile)
    throw new Error('a split coordinator (API and workflow processes) needs PostgreSQL (databaseUrl)');
  writeConfig(coordinatorConfig, split ? { ...coordinatorDoc, role: 'api' } : coordinatorDoc);
  const workflow = split
    ? { config: join(cdir, 'custos-workflow.yaml'), url: `http://127.0.0.1:${o.workflowPort}` }
    : undefined;
  if (workflow)
    writeConfig(workflow.config, {
      ...coordinatorDoc,
      role: 'workflow',
      listen: { host: '127.0.0.1', port: o.workflowPort },
    });

  // Co-signer configurations: own store, own key, pinned genesis, bundle from the coordinator,
  // their OWN chain RPC endpoint, and the coordinator's request key as the only caller.
  for (const [i, c] of cosigners.entries()) {
    const dir = join(o.dir, c.id);
    writeFileSync(
      c.config,
      `# Generated by custos up (local demo deployment)\n${stringify({
        id: c.id,
        listen: { host: '127.0.0.1', port: o.cosignerPorts[i] },
        store: o.databaseUrl
          ? {
              postgres: {
                url: { file: secretFile(join(dir, 'database-url'), o.databaseUrl) },
                schema: `${o.schemaPrefix ?? 'custos'}_${c.id.replace('-', '_')}`,
              },
            }
          : { pgliteDir: join(dir, 'db') },
        key: {
          backend: 'file',
          path: join(dir, 'key.json'),
          passphrase: { file: join(dir, 'passphrase') },
          evmPath: c.evmPath,
        },
        genesis: { file: genesisFile },
        bundle: { url: `${coordinatorUrl}/trust/bundles.json`, refreshSeconds: 1 },
        requestKeys: [{ keyId: requestKey.credentialId, publicKey: requestKey.publicKey }],
        chains: { evm: { [chain]: o.anvilRpc } },
      })}`,
      { mode: 0o600 },
    );
  }

  const setup: LocalSetup = {
    dir: o.dir,
    chain,
    chainId: o.chainId,
    anvilRpc: o.anvilRpc,
    coordinatorUrl,
    coordinatorConfig,
    ...(workflow ? { workflow } : {}),
    cosigners,
    safe: safe.address,
    safes: safes.map((s, n) => ({ id: `safe-${n + 1}`, address: s.address })),
    token,
    assets,
    destinations,
    readToken,
    requestKey,
    requester,
    approvers,
    admin,
    relayer: relayerAddress,
    ...(bitcoin ? { bitcoin } : {}),
  };
  secretFile(join(o.dir, 'demo-credentials.json'), JSON.stringify(setup, null, 2));
  return setup;
}

function ethAddress(compressedHex: string): string {
  const uncompressed = secp256k1.Point.fromHex(compressedHex).toBytes(false);
  return getAddress(`0x${bytesToHex(keccak_256(uncompressed.slice(1))).slice(-40)}`);
}
