/**
 * The demo policy `custos up` seeds (a plain policy document; the trust bundle carries it).
 * Small amounts to address-book entries go through; larger ones need one or two operators and a
 * short cancellation window; unknown or look-alike destinations are blocked; every
 * non-transfer operation is denied by default (no rule allows one). With the Bitcoin wallet, the
 * regtest coin (RBTC) gets the same tiers: < 0.1 allowed, < 10 one operator, more two.
 */
export function demoPolicy(assets: {
  native: string;
  token: string;
  /** The regtest coin (CAIP-19), when the deployment has the Bitcoin wallet. */
  bitcoin?: string;
}): Record<string, unknown> {
  const btc = assets.bitcoin !== undefined;
  return {
    version: 1,
    name: 'demo',
    description: 'custos up demo policy',
    assets: {
      [assets.native]: { symbol: 'DEVETH', decimals: 18 },
      [assets.token]: { symbol: 'TT', decimals: 18 },
      ...(btc ? { [assets.bitcoin!]: { symbol: 'RBTC', decimals: 8 } } : {}),
    },
    groups: { operations: { members: ['ops-alice', 'ops-bob'] } },
    rules: [
      {
        name: 'block-lookalike',
        when: { destination: { lookalike: true } },
        action: 'block',
        reason: 'destination looks like a known address but is a different one',
      },
      {
        name: 'block-unknown-destination',
        when: { destination: { known: false } },
        action: 'block',
        reason: 'only active address-book entries may be paid',
      },
      { name: 'allow-small-eth', when: { asset: ['DEVETH'], amount: { lt: '1 DEVETH' } }, action: 'allow' },
      { name: 'allow-small-token', when: { asset: ['TT'], amount: { lt: '1000 TT' } }, action: 'allow' },
      ...(btc
        ? [
            {
              name: 'allow-small-btc',
              when: { asset: ['RBTC'], amount: { lt: '0.1 RBTC' } },
              action: 'allow',
            },
          ]
        : []),
      {
        name: 'approve-medium-eth',
        when: { asset: ['DEVETH'], amount: { lt: '100 DEVETH' } },
        action: 'approve',
        approve: { quorum: 1, from: ['operations'], expiresAfter: '24h' },
      },
      {
        name: 'approve-medium-token',
        when: { asset: ['TT'], amount: { lt: '100000 TT' } },
        action: 'approve',
        approve: { quorum: 1, from: ['operations'], expiresAfter: '24h' },
      },
      ...(btc
        ? [
            {
              name: 'approve-medium-btc',
              when: { asset: ['RBTC'], amount: { lt: '10 RBTC' } },
              action: 'approve',
              approve: { quorum: 1, from: ['operations'], expiresAfter: '24h' },
            },
          ]
        : []),
      {
        name: 'approve-large',
        when: { asset: ['DEVETH', 'TT', ...(btc ? ['RBTC'] : [])] },
        action: 'approve',
        approve: { quorum: 2, from: ['operations'], expiresAfter: '12h' },
        delay: '1m',
      },
    ],
  };
}
