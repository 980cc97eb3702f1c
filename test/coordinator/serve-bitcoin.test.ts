import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseCoordinatorConfig } from '../../src/coordinator/config.ts';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.ts';
import { block } from '../bitcoin/chain-builder.ts';
import { REGTEST } from '../bitcoin/fixtures.ts';
import { NODE_DOUBLE_AUTH, type NodeDouble, startNodeDouble } from '../helpers/bitcoin-node-double.ts';

/**
 * `custos serve` with a chains.bitcoin section: the credentials are read from a `{ file }` secret
 * (user:password, cookie format), the node is reached with them, and the Bitcoin watchtower runs
 * in the coordinator (its persisted cursor follows the node's tip).
 */
vi.setConfig({ testTimeout: 120_000 });

describe('custos serve: chains.bitcoin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-serve-bitcoin-'));
  let running: RunningCoordinator | undefined;
  let node: NodeDouble | undefined;
  afterAll(async () => {
    await running?.close();
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the node credentials from a file and runs the Bitcoin watchtower up to the tip', async () => {
    const b0 = block('00'.repeat(32), 0, []);
    const b1 = block(b0.hash, 1, []);
    const b2 = block(b1.hash, 2, []);
    node = await startNodeDouble({ blocks: [b0, b1, b2] });
    writeFileSync(join(dir, 'rpc-cookie'), `${NODE_DOUBLE_AUTH.username}:${NODE_DOUBLE_AUTH.password}\n`);
    const admin = bytesToHex(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const yaml = `version: 1
listen: { host: 127.0.0.1, port: 0 }
database: { pgliteDir: db }
genesis: { adminKeys: ["${admin}"], quorum: 1 }
requestKey: { keyId: coordinator-1, seed: { env: TEST_SEED } }
chains:
  bitcoin:
    ${REGTEST}:
      node: { kind: core-rpc, url: "${node.url}", credentials: { file: rpc-cookie }, timeoutMs: 5000 }
      watch: { pollMs: 100, startHeight: 1 }
log: { level: silent }
`;
    const cfg = parseCoordinatorConfig(yaml, join(dir, 'custos.yaml'));
    running = await startCoordinator(cfg, { env: { TEST_SEED: '11'.repeat(32) }, port: 0 });
    const db = running.db;
    let tip: number | undefined;
    for (let i = 0; i < 200 && tip !== 2; i++) {
      const { rows } = await db.query<{ h: string | null }>(
        'SELECT max(height)::text AS h FROM bitcoin_watch_blocks WHERE chain = $1',
        [REGTEST],
      );
      tip = rows[0]?.h == null ? undefined : Number(rows[0].h);
      if (tip !== 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(tip).toBe(2);
    // every node request carried the file's credentials (the double answers 401 otherwise)
    expect(node.requests.length).toBeGreaterThan(0);
  });
});
