import { describe, expect, it } from 'vitest';
import { ledgerHorizonMs } from '../../src/coordinator/adapters/policy.ts';
import { loadPolicy } from '../../src/core/policy/load.ts';

const H = 3_600_000;
const policy = (yaml: string) => loadPolicy(`version: 1\nname: t\n${yaml}`, 't.yaml');

describe('how much ledger the coordinator reads for a policy', () => {
  it('none without rolling limits or first-time rules', () => {
    expect(ledgerHorizonMs(policy('rules: [{ name: r, action: allow }]\n'))).toBe(0);
    expect(
      ledgerHorizonMs(
        policy(
          'rules: [{ name: r, action: allow }]\nlimits: [{ name: cap, maxPercentOfBalance: 25, onExceed: block }]\n',
        ),
      ),
    ).toBe(0);
  });

  it('the longest rolling window', () => {
    const p = policy(`rules: [{ name: r, action: allow }]
limits:
  - { name: hourly, per: [wallet], window: 1h, count: 5 }
  - { name: daily, per: [wallet], window: 24h, count: 50 }
`);
    expect(ledgerHorizonMs(p)).toBe(24 * H);
  });

  it('the whole horizon when a rule asks whether a destination is new', () => {
    const p = policy(`rules:
  - { name: new-dest, when: { destination: { firstTime: true } }, action: block, reason: new }
  - { name: r, action: allow }
limits:
  - { name: hourly, per: [wallet], window: 1h, count: 5 }
`);
    expect(ledgerHorizonMs(p)).toBe(31 * 24 * H);
  });
});
