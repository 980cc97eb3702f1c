import { randomUUID } from 'node:crypto';
import { getAddress } from 'viem';
import { approvalAdapters } from '../../../src/coordinator/adapters/approval.ts';
import { policyAdapter } from '../../../src/coordinator/adapters/policy.ts';
import {
  type Coordinator,
  type CoordinatorOptions,
  createCoordinator,
} from '../../../src/coordinator/coordinator.ts';
import type { CosignerPort, SignOutcome } from '../../../src/coordinator/cosigner-client.ts';
import type { ChainPort } from '../../../src/coordinator/workflow/ports.ts';
import { cancelDigest } from '../../../src/core/approval/actions.ts';
import { approvalDigest } from '../../../src/core/approval/digest.ts';
import type { Approval } from '../../../src/core/approval/signature.ts';
import type { CosignerStatus } from '../../../src/core/auth/cosigner-api.ts';
import type { SignatureResult, SignRequest } from '../../../src/core/auth/index.ts';
import { PrincipalSet } from '../../../src/core/identity/principal-set.ts';
import { type Intent, intentDigest, parseIntent } from '../../../src/core/intent/index.ts';
import { loadPolicy } from '../../../src/core/policy/load.ts';
import type { AddressBookEntry } from '../../../src/core/policy/types.ts';
import { AuditLog } from '../../../src/store/audit.ts';
import type { Db } from '../../../src/store/db.ts';
import { EdKey, principal } from '../../approval/fixtures.ts';

export const CHAIN = 'eip155:31337';
export const ETH = 'eip155:31337/slip44:60';
export const KNOWN = getAddress('0x52908400098527886e0f7030069857d2e4169ee7');
export const STRANGER = getAddress('0xde709f2102306220921060314715629080e2fb77');

export const POLICY_YAML = `version: 1
name: coordinator-test
assets:
  ${ETH}: { symbol: DEVETH, decimals: 18 }
groups:
  operations: { members: [ops-alice, ops-bob] }
rules:
  - name: block-unknown
    when: { destination: { known: false } }
    action: block
    reason: unknown destination
  - name: allow-small
    when: { amount: { lt: "10 DEVETH" } }
    action: allow
  - name: approve-large
    when: { amount: { lt: "1000 DEVETH" } }
    action: approve
    approve: { quorum: 1, from: [operations], expiresAfter: 24h }
`;

export const BOOK: AddressBookEntry[] = [
  {
    chain: CHAIN,
    address: KNOWN,
    label: 'Exchange hot',
    category: 'exchange',
    status: 'active',
    addedAt: '2026-01-01T00:00:00Z',
    activeFrom: '2026-01-02T00:00:00Z',
  },
];

export const keys = {
  requester: new EdKey('svc-key'),
  alice: new EdKey('alice-key'),
  bob: new EdKey('bob-key'),
};

export function principals(): PrincipalSet {
  return new PrincipalSet([
    { ...principal('svc-backoffice', ['requester'], [], [keys.requester.credential()]), kind: 'service' },
    principal('ops-alice', ['approver'], ['operations'], [keys.alice.credential()]),
    principal('ops-bob', ['approver', 'requester'], ['operations'], [keys.bob.credential()]),
  ]);
}

export function makeIntent(over: Partial<Intent> = {}, now = new Date()): Intent {
  return parseIntent({
    version: 1,
    id: randomUUID(),
    chain: CHAIN,
    asset: ETH,
    wallet: 'hot-1',
    destination: KNOWN,
    amount: '1000000000000000000',
    reference: 'withdrawal',
    requestedBy: 'svc-backoffice',
    createdAt: new Date(now.getTime() - 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    expiresAt: new Date(now.getTime() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    ...over,
  });
}

export function submitBody(intent: Intent, signer = keys.requester, as = 'svc-backoffice') {
  return { intent, signature: signer.sign(intentDigest(intent), as) };
}

/** POSTs the requester-signed intent with a fresh Idempotency-Key; returns the HTTP status. */
export async function submit(c: Coordinator, intent: Intent): Promise<number> {
  const r = await c.app.inject({
    method: 'POST',
    url: '/v1/intents',
    headers: idem(),
    payload: submitBody(intent),
  });
  return r.statusCode;
}

export function approval(
  intent: Intent,
  key: EdKey,
  who: string,
  decision: 'approve' | 'reject' = 'approve',
): Approval {
  const d = intentDigest(intent);
  return {
    principal: who,
    credentialId: key.id,
    type: 'ed25519',
    signature: key.signRaw(approvalDigest(d, decision)),
    decision,
    intentDigest: Buffer.from(d).toString('hex'),
  };
}

export function cancelBody(intent: Intent, key = keys.requester, who = 'svc-backoffice') {
  return {
    signature: {
      principal: who,
      credentialId: key.id,
      type: 'ed25519',
      signature: key.signRaw(cancelDigest(intentDigest(intent))),
    },
  };
}

/**
 * TEST DOUBLE (named as such): a co-signer that records requests and answers with a fixed
 * signature, a refusal, or "unavailable". The real co-signer process is exercised in test/e2e.
 */
export class CosignerDouble implements CosignerPort {
  requests: SignRequest[] = [];
  mode: 'sign' | 'refuse' | 'down' = 'sign';
  constructor(readonly id: string) {}
  async sign(request: SignRequest): Promise<SignOutcome> {
    this.requests.push(structuredClone(request));
    if (this.mode === 'down') return { kind: 'unavailable', code: 'COSIGNER_UNREACHABLE', message: 'down' };
    if (this.mode === 'refuse') {
      return {
        kind: 'refused',
        code: 'DESTINATION_MISMATCH',
        message: 'tx pays someone else',
        step: 'chain',
      };
    }
    const result: SignatureResult = {
      kind: 'evm-hot',
      signingHash: `0x${'11'.repeat(32)}`,
      r: `0x${'22'.repeat(32)}`,
      s: `0x${'33'.repeat(32)}`,
      yParity: 0,
    };
    const intentId = (request.intent as { id: string }).id;
    return { kind: 'signed', response: { ok: true, cosigner: this.id, intentId, repeated: false, result } };
  }
  async status(): Promise<CosignerStatus | undefined> {
    return undefined;
  }
}

/** TEST DOUBLE: a chain that builds a fixed payload and records broadcasts. */
export class ChainDouble implements ChainPort {
  broadcasts: string[] = [];
  builds = 0;
  state: 'pending' | 'confirmed' | 'failed' = 'confirmed';
  /** The next this many builds fail (a node that does not answer); not counted in `builds`. */
  failBuilds = 0;
  async build(intent: Intent) {
    if (this.failBuilds > 0) {
      this.failBuilds--;
      throw new Error('test double: the node did not answer');
    }
    this.builds++;
    return { kind: 'evm-hot' as const, unsignedTx: `0x02${Buffer.from(intent.id).toString('hex')}` };
  }
  async finalize(_intent: Intent, tx: { kind: string }, sigs: SignatureResult[]) {
    return {
      raw: `0xsigned${(tx as unknown as { unsignedTx: string }).unsignedTx.slice(2)}${sigs.length}`,
      txHash: `0x${'ab'.repeat(32)}`,
    };
  }
  async broadcast(raw: string) {
    this.broadcasts.push(raw);
  }
  async status() {
    return this.state;
  }
  decode(tx: { kind: string }) {
    return { kind: tx.kind, note: 'double' };
  }
}

export interface Fixture {
  c: Coordinator;
  cosigners: CosignerDouble[];
  chain: ChainDouble;
  audit: AuditLog;
}

export async function fixture(db: Db, over: Partial<CoordinatorOptions> = {}): Promise<Fixture> {
  const audit = new AuditLog(db, { now: () => new Date().toISOString() });
  const ps = principals();
  const { verifier, approvals } = approvalAdapters(() => ps);
  const policy = loadPolicy(POLICY_YAML, 'policy.yaml');
  const cosigners = [new CosignerDouble('cosigner-a'), new CosignerDouble('cosigner-b')];
  const chain = new ChainDouble();
  const c = await createCoordinator({
    db,
    audit,
    verifier,
    approvals,
    policy: policyAdapter({
      db,
      policy: () => policy,
      principals: () => ps,
      addressBook: async () => BOOK,
      screening: {
        name: 'test-clear',
        check: async () => 'clear',
        lookup: async () => ({ status: 'clear', lists: [], provider: 'test-clear' }),
      },
    }),
    wallets: [{ id: 'hot-1', chain: CHAIN, cosigners: ['cosigner-a', 'cosigner-b'], threshold: 2 }],
    cosigners,
    chains: new Map([[CHAIN, chain]]),
    worker: { enabled: false },
    retry: { baseMs: 1, maxMs: 1 },
    polling: { confirmPollMs: 10, walletBusyPollMs: 10 },
    ...over,
  });
  return { c, cosigners, chain, audit };
}

let n = 0;
export const idem = () => ({ 'idempotency-key': `k-${process.pid}-${++n}-${randomUUID()}` });
