import { readFileSync } from 'node:fs';
import { base64, hex } from '@scure/base';
import { Transaction as BjsTransaction, Psbt } from 'bitcoinjs-lib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BitcoinCoreRpc } from '../../src/bitcoin/rpc.ts';
import { BitcoinChain } from '../../src/coordinator/chains/bitcoin.ts';
import { parseCoordinatorConfig } from '../../src/coordinator/config.ts';
import type { SignatureResult } from '../../src/core/auth/index.ts';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { deriveOutput } from '../../src/core/chains/bitcoin/descriptor/derive.ts';
import type { UtxoView } from '../../src/core/chains/bitcoin/inspect.ts';
import { signPsbtInputs } from '../../src/core/chains/bitcoin/sign.ts';
import { verifyPsbt } from '../../src/core/chains/bitcoin/verify.ts';
import type { Intent } from '../../src/core/intent/index.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import {
  intent as btcIntent,
  DESTINATION,
  fund,
  multisigDescriptor,
  REGTEST,
  roots,
  wallet,
} from '../bitcoin/fixtures.ts';
import { NODE_DOUBLE_AUTH, type NodeDouble, startNodeDouble } from '../helpers/bitcoin-node-double.ts';
import { storeBackends } from '../helpers/db.ts';

/**
 * The coordinator's Bitcoin adapter end to end, against the Bitcoin Core test double (no bitcoind
 * can run here) and two in-process co-signer checks (verifyPsbt + signPsbtInputs, the co-signer's
 * own pure pipeline) on a 2-of-3 P2SH-P2WSH wallet: build → 2 signatures → finalize → broadcast.
 */
const w = wallet('sh-wsh');
const record = {
  id: 'btc-cold-1',
  chain: REGTEST,
  type: 'bitcoin-descriptor' as const,
  config: { network: 'regtest', descriptor: multisigDescriptor('sh-wsh'), feeRateCeilingSatVb: 50 },
};

function fundNode(node: NodeDouble, value: bigint, index: number, salt = 0) {
  const u = fund(w, value, index, 'receive', salt);
  node.state.txs.set(u.txid, u.prevTx);
  node.state.utxos.push({
    txid: u.txid,
    vout: u.vout,
    amountBtc: Number(value) / 1e8,
    scriptPubKey: hex.encode(deriveOutput(w, 'receive', index).script),
    address: 'unused-by-adapter',
    confirmations: 6,
  });
  return u;
}

/** What each co-signer does with the PSBT before signing: decode and check against the intent. */
async function cosign(i: Intent, psbtB64: string, root: number, view: UtxoView): Promise<SignatureResult> {
  const psbt = base64.decode(psbtB64);
  const v = verifyPsbt(i, psbt, w, view, { feeRateCeilingSatVb: 50 });
  if (!v.ok) throw new Error(`co-signer ${root} refused: ${v.code}`);
  const s = await signPsbtInputs(psbt, w, memorySigner(`btc-key-${root}`, roots[root]!), view);
  return {
    kind: 'psbt',
    psbt: base64.encode(s.psbt),
    partialSigs: s.signatures.map((x) => ({
      input: x.input,
      pubkey: hex.encode(x.pubkey),
      signature: hex.encode(x.signature),
    })),
  };
}

const backends = await storeBackends();
afterAll(async () => {
  for (const b of backends) await b.cleanup();
});

describe.each(backends)('coordinator Bitcoin adapter ($name)', (backend) => {
  let node: NodeDouble | undefined;
  afterEach(async () => {
    await node?.close();
    node = undefined;
  });

  async function setup() {
    const db = await backend.open();
    node = await startNodeDouble({ feerateBtcKvb: 0.00005 }); // 5 sat/vB
    const rpc = new BitcoinCoreRpc({
      url: node.url,
      auth: NODE_DOUBLE_AUTH,
      wallet: 'custos',
      timeoutMs: 5000,
    });
    const chain = new BitcoinChain({ chain: REGTEST, rpc, db, wallets: () => [record], scanUpTo: 20 });
    return { db, node, chain };
  }

  it('build → two co-signers sign → finalize → broadcast reaches sendrawtransaction; txid recorded for the watchtower', async () => {
    const { db, node, chain } = await setup();
    const a = fundNode(node, 100_000_000n, 0);
    const b = fundNode(node, 80_000_000n, 1);
    const view: UtxoView = ({ txid, vout }) => {
      const u = [a, b].find((x) => x.txid === txid && x.vout === vout);
      return u ? { value: u.value, script: deriveOutput(w, 'receive', u.index).script } : undefined;
    };
    const i = btcIntent();
    const tx = await chain.build(i);
    expect(tx.kind).toBe('psbt');
    if (tx.kind !== 'psbt') return;
    const sigs = [await cosign(i, tx.psbt, 0, view), await cosign(i, tx.psbt, 1, view)];

    // One co-signer is not enough for a 2-of-3 wallet.
    await expect(chain.finalize(i, tx, [sigs[0]!])).rejects.toMatchObject({ code: 'PSBT_NOT_FINALIZABLE' });

    const { raw, txHash } = await chain.finalize(i, tx, sigs);
    const recorded = await db.query<{ intent_id: string }>(
      'SELECT intent_id FROM bitcoin_signed_txs WHERE chain = $1 AND txid = $2',
      [REGTEST, txHash],
    );
    expect(recorded.rows).toEqual([{ intent_id: i.id }]); // before broadcast (I7)
    expect(node.state.broadcast).toEqual([]);

    await chain.broadcast(raw);
    expect(node.state.broadcast).toEqual([raw]);
    // Independent parse by bitcoinjs-lib: the node received exactly the finalized transaction,
    // paying the intent's destination the intent's amount, with a full witness on every input.
    const sent = BjsTransaction.fromHex(node.state.broadcast[0]!);
    expect(sent.getId()).toBe(txHash);
    expect(sent.ins.every((x) => x.witness.length === 4)).toBe(true); // [empty, sig, sig, witnessScript]
    const dest = hex.encode(addressToScript(DESTINATION, 'regtest'));
    expect(sent.outs.filter((o) => hex.encode(o.script) === dest).map((o) => o.value)).toEqual([
      150_000_000n,
    ]);
    const changeScript = hex.encode(deriveOutput(w, 'change', 0).script);
    expect(sent.outs.some((o) => hex.encode(o.script) === changeScript)).toBe(true);

    // status reads the wallet transaction's depth; unknown txid → pending
    node.state.txs.set(txHash, hex.decode(raw));
    expect(await chain.status(txHash)).toBe('confirmed');
    expect(await chain.status('ab'.repeat(32))).toBe('pending');
  });

  it('a change address is never reused: two withdrawals pay change to internal indexes 0 and 1', async () => {
    const { node, chain } = await setup();
    fundNode(node, 100_000_000n, 0);
    fundNode(node, 90_000_000n, 1);
    const first = await chain.build(btcIntent());
    const second = await chain.build(btcIntent({ id: 'c3333333-3333-4333-8333-333333333333' }));
    const changeOf = (p: typeof first) => {
      if (p.kind !== 'psbt') throw new Error('not a psbt');
      // parsed by bitcoinjs-lib, independently of the btc-signer code that built it
      return Psbt.fromBase64(p.psbt).txOutputs.map((o) => hex.encode(o.script));
    };
    const c0 = hex.encode(deriveOutput(w, 'change', 0).script);
    const c1 = hex.encode(deriveOutput(w, 'change', 1).script);
    expect(changeOf(first)).toContain(c0);
    expect(changeOf(first)).not.toContain(c1);
    expect(changeOf(second)).toContain(c1);
    expect(changeOf(second)).not.toContain(c0);
    // concurrent allocations on another wallet id never collide either
    const got = await Promise.all([1, 2, 3, 4].map(() => chain.allocateChangeIndex('btc-other')));
    expect([...got].sort()).toEqual([0, 1, 2, 3]);
  });

  it('fails closed: no fee estimate from the node → NODE_BAD_RESPONSE, nothing built', async () => {
    const { node, chain } = await setup();
    fundNode(node, 100_000_000n, 0);
    node.state.feerateBtcKvb = undefined;
    await expect(chain.build(btcIntent())).rejects.toMatchObject({ code: 'NODE_BAD_RESPONSE' });
  });
});

describe('chains.bitcoin configuration', () => {
  const example = new URL('../../examples/custos.yaml', import.meta.url).pathname;
  const text = readFileSync(example, 'utf8');
  const MAINNET = 'bip122:000000000019d6689c085ae165831e93';
  const bad = (t: string) => {
    try {
      parseCoordinatorConfig(t, 'custos.yaml');
    } catch (e) {
      return e as { code: string; field: string };
    }
    throw new Error('accepted');
  };

  it('the shipped example configures a Core RPC node with secret-ref credentials', () => {
    const c = parseCoordinatorConfig(text, example);
    expect(c.chains.bitcoin[MAINNET]).toEqual({
      node: {
        kind: 'core-rpc',
        url: 'http://bitcoind.example.internal:8332',
        credentials: { file: 'secrets/bitcoind-rpc' },
        wallet: 'custos-watch',
        timeoutMs: 10000,
      },
      feeTargetBlocks: 6,
      scanUpTo: 200,
      minConf: 1,
      watch: { enabled: true, pollMs: 10000 },
    });
  });

  it('refuses inline credentials, unknown keys, unsupported node kinds and non-bip122 ids, naming the key', () => {
    expect(
      bad(text.replace('credentials: { file: secrets/bitcoind-rpc }', 'credentials: "u:p"')),
    ).toMatchObject({
      field: `chains.bitcoin.${MAINNET}.node.credentials`,
    });
    expect(bad(text.replace('scanUpTo: 200', 'scanUpto: 200'))).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(bad(text.replace('kind: core-rpc', 'kind: esplora'))).toMatchObject({
      field: `chains.bitcoin.${MAINNET}.node.kind`,
    });
    expect(bad(text.replace(`    ${MAINNET}:`, '    bip122:xyz:'))).toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
