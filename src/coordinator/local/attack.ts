import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SignRequest, TxPayload } from '../../core/auth/index.ts';
import { ed25519PrivateKey } from '../../core/auth/index.ts';
import type { TrustBundle } from '../../core/governance/types.ts';
import type { Intent } from '../../core/intent/index.ts';
import { EvmChain } from '../chains/evm.ts';
import { HttpCosigner, type SignOutcome } from '../cosigner-client.ts';
import { bitcoinScenarios } from './bitcoin-attack.ts';
import { approvalFor, demoBitcoinIntent, demoIntent, requesterSignature } from './client.ts';
import type { LocalSetup } from './setup.ts';

/**
 * `custos demo attack`: plays a compromised coordinator against the running co-signers. It holds
 * the coordinator's request key (so its requests authenticate) and real requester and approver
 * signatures on a legitimate intent — then changes what is signed. Every co-signer must refuse
 * every scenario, each with its typed code. With the Bitcoin wallet, the PSBT scenarios of
 * bitcoin-attack.ts follow.
 */
export interface AttackResult {
  scenario: string;
  description: string;
  /** The refusal code the co-signers must give (Bitcoin scenarios). */
  expect?: string;
  outcomes: { cosigner: string; refused: boolean; code: string }[];
}

export function loadSetup(dir: string): LocalSetup {
  return JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as LocalSetup;
}

const ATTACKER = '0x000000000000000000000000000000000000dEaD';

export async function runAttacks(s: LocalSetup): Promise<AttackResult[]> {
  const chainRes = await fetch(new URL('/trust/bundles.json', s.coordinatorUrl));
  const bundles = (await chainRes.json()) as TrustBundle[];
  const bundle = bundles[bundles.length - 1];
  const wallets = bundle?.config.wallets ?? [];
  const chain = new EvmChain({ chain: s.chain, rpcUrl: s.anvilRpc, wallets: () => wallets });
  const key = {
    keyId: s.requestKey.credentialId,
    privateKey: ed25519PrivateKey(Buffer.from(s.requestKey.seed, 'hex')),
  };
  const cosigners = s.cosigners.map((c) => new HttpCosigner({ id: c.id, url: c.url, key }));

  // A legitimate, fully approved intent (two operators) and its honest Safe transaction.
  const intent = demoIntent(s, { amount: '5000000000000000000', reference: 'demo attack' });
  const honest = (await chain.build(intent)) as Extract<TxPayload, { kind: 'safe' }>;
  const request = (i: Intent, tx: TxPayload): SignRequest => ({
    intent: i,
    requesterSignature: requesterSignature(s.requester, i),
    approvals: s.approvers.map((a) => approvalFor(a, i)),
    tx,
  });
  const good = request(intent, honest);
  const scenarios: { scenario: string; description: string; expect?: string; req: SignRequest }[] = [
    {
      scenario: 'destination-rewritten',
      description:
        'after approval the coordinator makes the Safe transaction pay another address (DMM, Bybit)',
      req: { ...good, tx: { ...honest, safeTx: { ...honest.safeTx, to: ATTACKER } } },
    },
    {
      scenario: 'amount-changed',
      description: 'the Safe transaction sends ten times the approved amount',
      req: {
        ...good,
        tx: { ...honest, safeTx: { ...honest.safeTx, value: (BigInt(intent.amount) * 10n).toString() } },
      },
    },
    {
      scenario: 'delegatecall',
      description: 'operation switched to DELEGATECALL (the Bybit masterCopy overwrite)',
      req: { ...good, tx: { ...honest, safeTx: { ...honest.safeTx, operation: 1 } } },
    },
    {
      scenario: 'intent-edited-after-approval',
      description: 'the intent itself is edited to a new destination, keeping the old signatures',
      req: { ...good, intent: { ...intent, destination: s.destinations[1]!.address } },
    },
    {
      scenario: 'approvals-stripped',
      description: 'the approvals are dropped and the request is sent as if none were needed',
      req: { ...good, approvals: [] },
    },
  ];
  if (s.bitcoin) {
    // An approved 0.45 RBTC withdrawal from btc-1 (one operator needed; both sign).
    const btcIntent = demoBitcoinIntent(s, { amount: '45000000', reference: 'demo attack' });
    for (const sc of await bitcoinScenarios(s.bitcoin, bundle, btcIntent))
      scenarios.push({ ...sc, req: request(btcIntent, sc.tx) });
  }
  const out: AttackResult[] = [];
  for (const sc of scenarios) {
    const outcomes = await Promise.all(
      cosigners.map(async (c) => {
        const o: SignOutcome = await c.sign(sc.req);
        return {
          cosigner: c.id,
          refused: o.kind !== 'signed',
          code: o.kind === 'signed' ? 'SIGNED' : o.code,
        };
      }),
    );
    out.push({
      scenario: sc.scenario,
      description: sc.description,
      ...(sc.expect ? { expect: sc.expect } : {}),
      outcomes,
    });
  }
  return out;
}
