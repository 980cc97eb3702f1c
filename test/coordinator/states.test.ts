import { describe, expect, it } from 'vitest';
import {
  cancellable,
  INTENT_EVENTS,
  INTENT_STATES,
  nextState,
  TERMINAL_STATES,
  transitions,
} from '../../src/core/workflow/states.ts';

describe('intent state machine', () => {
  it('walks the happy path requested → … → confirmed', () => {
    let s = nextState('requested', 'policy_requires_approval');
    expect(s).toEqual({ ok: true, value: 'pending_approval' });
    const path = ['quorum_met', 'delay_started', 'delay_elapsed', 'built', 'signed', 'confirmed'] as const;
    const seen: string[] = [];
    let state = 'pending_approval' as const as (typeof INTENT_STATES)[number];
    for (const e of path) {
      s = nextState(state, e);
      if (!s.ok) throw new Error(s.message);
      state = s.value;
      seen.push(state);
    }
    expect(seen).toEqual(['approved', 'delayed', 'building', 'signing', 'broadcast', 'confirmed']);
  });

  it('terminal states accept no event at all', () => {
    for (const from of TERMINAL_STATES) {
      for (const e of INTENT_EVENTS) {
        const r = nextState(from, e);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.code).toBe('TERMINAL_STATE');
      }
    }
  });

  it('never moves backwards once a signature request may exist (no re-approval, no cancel)', () => {
    for (const from of ['building', 'signing', 'broadcast'] as const) {
      for (const e of ['cancel', 'quorum_met', 'policy_allowed', 'build_started', 'delay_elapsed'] as const) {
        const r = nextState(from, e);
        expect(r).toMatchObject({ ok: false, code: 'ILLEGAL_TRANSITION' });
      }
      expect(cancellable(from)).toBe(false);
    }
    expect(nextState('broadcast', 'expire')).toMatchObject({ ok: false, code: 'ILLEGAL_TRANSITION' });
  });

  it('every non-terminal state can fail, and every edge lands in a known state', () => {
    for (const from of INTENT_STATES) {
      if (TERMINAL_STATES.has(from)) continue;
      expect(nextState(from, 'fail')).toEqual({ ok: true, value: 'failed' });
    }
    const all = transitions();
    expect(all.length).toBeGreaterThan(20);
    for (const t of all) expect(INTENT_STATES).toContain(t.to);
  });

  it('policy outcomes: allow, approvals, block; approvals skip the policy step only via the table', () => {
    expect(nextState('requested', 'policy_allowed')).toEqual({ ok: true, value: 'approved' });
    expect(nextState('requested', 'policy_blocked')).toEqual({ ok: true, value: 'blocked' });
    expect(nextState('requested', 'quorum_met')).toMatchObject({ ok: false, code: 'ILLEGAL_TRANSITION' });
    expect(nextState('requested', 'built')).toMatchObject({ ok: false });
    expect(nextState('pending_approval', 'approval_rejected')).toEqual({ ok: true, value: 'rejected' });
  });
});
