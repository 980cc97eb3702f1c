import { base64 } from '@scure/base';
import { Transaction } from '@scure/btc-signer';
import { afterAll, describe, expect, it } from 'vitest';
import { addressToScript } from '../../src/core/chains/bitcoin/address.ts';
import { buildPsbt } from '../../src/core/chains/bitcoin/build.ts';
import { PSBT_OPTS } from '../../src/core/chains/bitcoin/psbt/decode.ts';
import type { Intent } from '../../src/core/intent/index.ts';
import { intentDigest } from '../../src/core/intent/index.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import {
  ATTACKER,
  intent as btcIntent,
  DESTINATION,
  fund,
  multisigDescriptor,
  REGTEST,
  roots,
  wallet,
} from '../bitcoin/fixtures.ts';
import { config, firstBundle } from '../governance/fixtures.ts';
import { pgliteBackend } from '../helpers/db.ts';
import { admins, approvalsFor, harness, migrateCosigner, principals, requester, T0 } from './fixture.ts';

/**
 * The co-signer on a 2-of-3 P2SH-P2WSH wallet (the DMM Bitcoin shape), with the Bitcoin module's
 * real verifyPsbt / signPsbtInputs behind the pipeline.
 */
const backend = pgliteBackend();
afterAll(() => backend.cleanup());

const w = wallet('sh-wsh');
const utxos = [fund(w, 100_000_000n, 0), fund(w, 80_000_000n, 1)];

function bundle() {
  return firstBundle(
    admins,
    config(admins, {
      policy: {
        version: 1,
        name: 'cosigner-btc-test',
        assets: { [`${REGTEST}/slip44:1`]: { symbol: 'RBTC', decimals: 8 } },
        groups: { treasury: { members: ['alice', 'bob', 'carol'] } },
        rules: [
          {
            name: 'block-unknown',
            when: { destination: { known: false } },
            action: 'block',
            reason: 'address book only',
          },
          {
            name: 'approve-btc',
            when: { asset: ['RBTC'] },
            action: 'approve',
            approve: { quorum: 2, from: ['treasury'] },
          },
        ],
      },
      principals: principals(),
      addressBook: [
        {
          chain: REGTEST,
          address: DESTINATION,
          label: 'exchange cold',
          category: 'cold-storage',
          status: 'active',
          addedAt: '2026-01-01T00:00:00Z',
          activeFrom: '2026-01-02T00:00:00Z',
        },
      ],
      wallets: [
        {
          id: 'btc-cold-1',
          chain: REGTEST,
          type: 'bitcoin-descriptor',
          config: { network: 'regtest', descriptor: multisigDescriptor('sh-wsh'), feeRateCeilingSatVb: 50 },
        },
      ],
    }),
  );
}

function request(i: Intent, psbt: Uint8Array) {
  return {
    intent: i,
    requesterSignature: requester.sign(intentDigest(i), 'svc-backoffice'),
    approvals: approvalsFor(i),
    tx: { kind: 'psbt' as const, psbt: base64.encode(psbt) },
  };
}

describe('co-signer on a Bitcoin multisig (PSBT)', () => {
  const i = btcIntent({ createdAt: T0, expiresAt: '2026-03-02T10:00:00Z' });
  const honest = buildPsbt(i, w, utxos, 5, 3).psbt;

  it('signs every wallet input of an honest PSBT; the same PSBT again → same result', async () => {
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })), {
      signer: memorySigner('btc-key-1', roots[0]!),
      bundle,
    });
    const r = await h.send(request(i, honest));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const result = r.json.result as { kind: string; psbt: string; partialSigs: { input: number }[] };
    expect(result.kind).toBe('psbt');
    expect(result.partialSigs.map((s) => s.input).sort()).toEqual([0, 1]);
    const again = await h.send(request(i, honest));
    expect(again.json).toMatchObject({ repeated: true, result });
  });

  it('attack (DMM): destination swapped in the PSBT after approval → refused, nothing signed', async () => {
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })), {
      signer: memorySigner('btc-key-1', roots[0]!),
      bundle,
    });
    const tx = Transaction.fromPSBT(honest, PSBT_OPTS);
    for (let o = 0; o < tx.outputsLength; o++)
      if (tx.getOutput(o).amount === 150_000_000n)
        tx.updateOutput(o, { script: addressToScript(ATTACKER, 'regtest') });
    const r = await h.send(request(i, tx.toPSBT(0)));
    expect(r.json).toMatchObject({ ok: false, step: 'chain', code: 'DESTINATION_MISMATCH' });
  });

  it('I8: another intent spending the same UTXOs is refused after the first was signed', async () => {
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })), {
      signer: memorySigner('btc-key-1', roots[0]!),
      bundle,
    });
    expect((await h.send(request(i, honest))).status).toBe(200);
    const j = btcIntent({
      id: 'c3333333-3333-4333-8333-333333333333',
      createdAt: T0,
      expiresAt: '2026-03-02T10:00:00Z',
    });
    const r = await h.send(request(j, buildPsbt(j, w, utxos, 6, 3).psbt));
    expect(r).toMatchObject({ status: 409, json: { code: 'LEDGER_SPEND_CONFLICT' } });
  });

  it('a co-signer whose key is not in the wallet refuses to sign', async () => {
    const h = await harness(await migrateCosigner(await backend.open({ migrate: false })), {
      signer: memorySigner('stranger', new Uint8Array(32).fill(9)),
      bundle,
    });
    const r = await h.send(request(i, honest));
    expect(r.json).toMatchObject({ ok: false, step: 'sign' });
  });
});
