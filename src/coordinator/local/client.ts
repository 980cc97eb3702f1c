import { randomUUID, sign } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { base64urlnopad } from '@scure/base';
import { approvalDigest, cancelDigest } from '../../core/approval/index.ts';
import { ed25519PrivateKey } from '../../core/auth/index.ts';
import { type Intent, intentDigest, parseIntent } from '../../core/intent/index.ts';
import type { DemoKey, LocalSetup } from './setup.ts';

/**
 * A small API client that signs like a requester's back office and an approver's CLI would: the
 * intent with the requester's key, approvals and cancels over their action digests. Used by
 * `custos demo`, the e2e tests and the e2e bench.
 */
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function signWith(key: DemoKey, digest: Uint8Array): string {
  return base64urlnopad.encode(sign(null, digest, ed25519PrivateKey(Buffer.from(key.seed, 'hex'))));
}

export function demoIntent(s: LocalSetup, over: Partial<Intent> = {}): Intent {
  const now = Date.now();
  return parseIntent({
    version: 1,
    id: randomUUID(),
    chain: s.chain,
    asset: s.assets.native,
    wallet: 'safe-1',
    destination: s.destinations[0]!.address,
    amount: '10000000000000000',
    reference: 'demo withdrawal',
    requestedBy: s.requester.principal,
    createdAt: iso(now - 1000),
    expiresAt: iso(now + 3_600_000),
    ...over,
  });
}

/** A withdrawal from the regtest Bitcoin wallet (btc-1) to its first address-book entry, 0.01 RBTC. */
export function demoBitcoinIntent(s: LocalSetup, over: Partial<Intent> = {}): Intent {
  const b = s.bitcoin;
  if (!b) throw new Error('this deployment has no Bitcoin wallet');
  return demoIntent(s, {
    chain: b.chain,
    asset: b.asset,
    wallet: b.wallet,
    destination: b.destinations[0]!.address,
    amount: '1000000',
    ...over,
  });
}

export function requesterSignature(key: DemoKey, intent: Intent) {
  return {
    principal: key.principal,
    credentialId: key.credentialId,
    type: 'ed25519',
    signature: signWith(key, intentDigest(intent)),
  };
}

export function approvalFor(key: DemoKey, intent: Intent, decision: 'approve' | 'reject' = 'approve') {
  const d = intentDigest(intent);
  return {
    principal: key.principal,
    credentialId: key.credentialId,
    type: 'ed25519',
    signature: signWith(key, approvalDigest(d, decision)),
    decision,
    intentDigest: bytesToHex(d),
  };
}

export function cancelFor(key: DemoKey, intent: Intent) {
  return {
    principal: key.principal,
    credentialId: key.credentialId,
    type: 'ed25519',
    signature: signWith(key, cancelDigest(intentDigest(intent))),
  };
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly readToken?: string,
  ) {}

  async post(
    path: string,
    body: unknown,
    key = randomUUID(),
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await fetch(new URL(path, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  }

  async get(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await fetch(new URL(path, this.baseUrl), {
      headers: this.readToken ? { authorization: `Bearer ${this.readToken}` } : {},
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  }

  submit(s: LocalSetup, intent: Intent) {
    return this.post('/v1/intents', { intent, signature: requesterSignature(s.requester, intent) });
  }

  approve(key: DemoKey, intent: Intent) {
    return this.post(`/v1/intents/${intent.id}/approvals`, approvalFor(key, intent));
  }

  /** Polls until the intent reaches one of `states` (or a terminal state), returns its detail. */
  async waitFor(id: string, states: string[], timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const terminal = ['confirmed', 'rejected', 'blocked', 'cancelled', 'expired', 'failed'];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.get(`/v1/intents/${id}`);
      const state = String(r.json.state);
      if (states.includes(state) || terminal.includes(state)) return r.json;
      if (Date.now() > deadline) throw new Error(`intent ${id} still ${state} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
