import { fail, ok, type Result } from '../errors/base.ts';

/**
 * The withdrawal intent's life cycle as a pure transition table. Persisting a state, appending its
 * audit entry and scheduling the next step happen elsewhere (src/store/workflow); this file only
 * answers "may an intent in state S take event E, and where does it go?".
 *
 *   requested → pending_approval → approved → (delayed) → building → signing → broadcast → confirmed
 *
 * plus the terminal outcomes rejected, blocked, cancelled, expired and failed. Anything not in the
 * table is refused (I6 fail closed): a replayed or out-of-order event can never move an intent
 * backwards, e.g. from `signing` back to `approved` to collect a second, different signature set.
 */
export const INTENT_STATES = [
  'requested',
  'pending_approval',
  'approved',
  'delayed',
  'building',
  'signing',
  'broadcast',
  'confirmed',
  'rejected',
  'blocked',
  'cancelled',
  'expired',
  'failed',
] as const;
export type IntentState = (typeof INTENT_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<IntentState> = new Set([
  'confirmed',
  'rejected',
  'blocked',
  'cancelled',
  'expired',
  'failed',
]);

export const INTENT_EVENTS = [
  /** Policy allows without approvals. */
  'policy_allowed',
  /** Policy requires an approval quorum. */
  'policy_requires_approval',
  /** Policy blocks the intent outright. */
  'policy_blocked',
  /** The approval quorum is met (verified signatures over the intent digest). */
  'quorum_met',
  /** An approver rejected it (one rejection ends it: approvals are unanimous vetoes). */
  'approval_rejected',
  /** The policy imposes a time lock between approval and signing. */
  'delay_started',
  /** The time lock elapsed. */
  'delay_elapsed',
  /** Building the unsigned transaction starts (no delay, or after it). */
  'build_started',
  /** The unsigned transaction is built and recorded in the outbox. */
  'built',
  /** Enough co-signer signatures are collected; the signed transaction is in the outbox. */
  'signed',
  /** The transaction reached the chain with enough confirmations. */
  'confirmed',
  /** A requester or admin cancelled it before any signature was requested. */
  'cancel',
  /** expiresAt passed before the transaction was signed. */
  'expire',
  /** A step failed for good: co-signer refusal, build error, reverted tx, missing module. */
  'fail',
] as const;
export type IntentEvent = (typeof INTENT_EVENTS)[number];

/** from-state → event → to-state. Every edge not listed is illegal. */
const TABLE: Readonly<Record<IntentState, Partial<Record<IntentEvent, IntentState>>>> = {
  requested: {
    policy_allowed: 'approved',
    policy_requires_approval: 'pending_approval',
    policy_blocked: 'blocked',
    cancel: 'cancelled',
    expire: 'expired',
    fail: 'failed',
  },
  pending_approval: {
    quorum_met: 'approved',
    approval_rejected: 'rejected',
    cancel: 'cancelled',
    expire: 'expired',
    fail: 'failed',
  },
  approved: {
    delay_started: 'delayed',
    build_started: 'building',
    cancel: 'cancelled',
    expire: 'expired',
    fail: 'failed',
  },
  delayed: {
    delay_elapsed: 'building',
    cancel: 'cancelled',
    expire: 'expired',
    fail: 'failed',
  },
  // From `building` on, cancel is refused: a signature request may already be out, and the only
  // safe way to stop it is for the co-signers to refuse (expiry) — the coordinator cannot recall it.
  building: { built: 'signing', expire: 'expired', fail: 'failed' },
  // Expiry while signing: co-signers refuse expired intents themselves; the coordinator records it.
  signing: { signed: 'broadcast', expire: 'expired', fail: 'failed' },
  // Once broadcast, the transaction may land at any time: no expiry, only confirmation or failure
  // (reverted / replaced), which the watchtower decides.
  broadcast: { confirmed: 'confirmed', fail: 'failed' },
  confirmed: {},
  rejected: {},
  blocked: {},
  cancelled: {},
  expired: {},
  failed: {},
};

export type TransitionCode = 'ILLEGAL_TRANSITION' | 'TERMINAL_STATE';

/** Where `event` takes an intent in `from`, or a typed refusal. */
export function nextState(from: IntentState, event: IntentEvent): Result<IntentState, TransitionCode> {
  const to = TABLE[from][event];
  if (to !== undefined) return ok(to);
  if (TERMINAL_STATES.has(from)) {
    return fail('TERMINAL_STATE', `intent is ${from}; no further transitions`, { from, event });
  }
  return fail('ILLEGAL_TRANSITION', `event ${event} is not allowed in state ${from}`, { from, event });
}

/** Every legal edge, for documentation and exhaustive tests. */
export function transitions(): { from: IntentState; event: IntentEvent; to: IntentState }[] {
  const out: { from: IntentState; event: IntentEvent; to: IntentState }[] = [];
  for (const from of INTENT_STATES) {
    for (const [event, to] of Object.entries(TABLE[from]) as [IntentEvent, IntentState][]) {
      out.push({ from, event, to });
    }
  }
  return out;
}

export function isIntentState(s: string): s is IntentState {
  return (INTENT_STATES as readonly string[]).includes(s);
}

/** States in which cancellation is still possible (before any signature request can exist). */
export function cancellable(state: IntentState): boolean {
  return TABLE[state].cancel !== undefined;
}
