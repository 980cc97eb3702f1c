import { randomBytes } from 'node:crypto';
import { parseTransaction } from 'viem';
import { buildSignBatchHttpRequest, type SignRequest } from '../../src/core/auth/index.ts';
import type { CosignerChecks } from '../../src/cosigner/checks.ts';
import { realChecks } from '../../src/cosigner/real-checks.ts';
import type { Backend } from '../helpers/db.ts';
import {
  COORDINATOR_KEY_ID,
  coordinatorKey,
  fixedChain,
  type Harness,
  harness,
  hotTx,
  intent,
  migrateCosigner,
  signRequestFor,
} from './fixture.ts';

/** `POST /v1/sign-batch` to the harness's co-signer, signed by the coordinator's request key. */
export async function postSignBatch(h: Harness, items: SignRequest[]) {
  const http = buildSignBatchHttpRequest(
    { keyId: COORDINATOR_KEY_ID, privateKey: coordinatorKey },
    'cosigner-a',
    items,
    { timestampMs: h.clock.now, nonce: randomBytes(16) },
  );
  return h.app.inject({ method: 'POST', url: http.path, headers: http.headers, payload: http.body });
}

/** Distinct intent ids (UUID v4 shape). */
export const idOf = (n: number) => `7d1c1a52-3f7e-4a43-8f0e-${n.toString(16).padStart(12, '0')}`;

/**
 * TEST DOUBLE for the co-signer's RPC endpoint: the account nonce it reports is the nonce of the
 * transaction being checked (as if the chain had advanced between items), so several items of one
 * wallet can pass the chain step and the batch's own I8 and velocity logic is what is tested.
 * Everything else is the real verification (requester, policy, approvals, EVM decode).
 */
export function nonceFollowsTx(address: `0x${string}`): CosignerChecks {
  const at = (nonce: bigint) =>
    realChecks({ evm: fixedChain({ chainId: 1n, nonce }), evmSignerAddress: address });
  const base = at(0n);
  return {
    ...base,
    verifyTx: (i, tx, trust, ctx) =>
      tx.kind === 'evm-hot'
        ? at(BigInt(parseTransaction(tx.unsignedTx as `0x${string}`).nonce ?? 0)).verifyTx(i, tx, trust, {
            now: ctx.now,
          })
        : base.verifyTx(i, tx, trust, ctx),
  };
}

/** A sign request for intent n with nonce 7+n and `eth` base-unit amount. */
export function item(n: number, over: { amount?: bigint; nonce?: number; to?: `0x${string}` } = {}) {
  const amount = over.amount ?? 10n ** 17n;
  const i = intent({ id: idOf(n), amount: amount.toString() });
  return signRequestFor(i, {
    tx: { kind: 'evm-hot', unsignedTx: hotTx({ nonce: over.nonce ?? 7 + n, value: amount, to: over.to }) },
  });
}

/** A co-signer on a fresh database of `backend`, with the nonceFollowsTx chain double. */
export async function batchHarness(backend: Backend): Promise<Harness> {
  const h = await harness(await migrateCosigner(await backend.open({ migrate: false })));
  h.deps.checks = nonceFollowsTx(h.address);
  return h;
}
