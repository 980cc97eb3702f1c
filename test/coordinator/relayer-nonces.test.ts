import { describe, expect, it } from 'vitest';
import { RelayerNonces } from '../../src/coordinator/chains/evm.ts';

describe('relayer nonces handed out by one coordinator', () => {
  it('never hands out one nonce twice while carriers are signed faster than they are sent', () => {
    const n = new RelayerNonces(15_000);
    // The node still reports 7 pending: three carriers were signed, none sent yet.
    expect([n.next(7, 0), n.next(7, 10), n.next(7, 20)]).toEqual([7, 8, 9]);
    // Two were sent meanwhile: the node's count catches up, we stay ahead of it.
    expect(n.next(9, 30)).toBe(10);
    // Another process (or a restart) moved the account on: follow the node.
    expect(n.next(20, 40)).toBe(20);
  });

  it('fills a gap left by a carrier that never reached the node', () => {
    const n = new RelayerNonces(15_000);
    expect(n.next(3, 0)).toBe(3); // this carrier is lost
    expect(n.next(3, 1_000)).toBe(4); // queued behind the gap
    expect(n.next(3, 5_000)).toBe(5);
    // The node's count has not moved for 15 s while we are ahead of it: hand out 3 again.
    expect(n.next(3, 16_000)).toBe(3);
    // Then carry on past everything already handed out.
    expect(n.next(3, 16_500)).toBe(6);
    expect(n.next(6, 17_000)).toBe(7);
  });
});
