import { describe, expect, it } from 'vitest';
import { lingerFor } from '../../src/coordinator/workflow/worker.ts';

describe('worker linger', () => {
  const o = { lingerMs: 10, lingerMaxMs: 100, batch: 64 };

  it('a first batch and sparse work wait only lingerMs', () => {
    expect(lingerFor(o, undefined, 1_000)).toBe(10);
    // The last batch started 5 s ago: nothing is flowing, no reason to wait for company.
    expect(lingerFor(o, { at: 0, size: 1 }, 5_000)).toBe(10);
  });

  it('small recent batches wait until lingerMaxMs after the last batch started', () => {
    expect(lingerFor(o, { at: 1_000, size: 3 }, 1_030)).toBe(70);
    expect(lingerFor(o, { at: 1_000, size: 15 }, 1_095)).toBe(10);
    expect(lingerFor(o, { at: 1_000, size: 15 }, 1_100)).toBe(10);
  });

  it('full batches (a quarter of batch or more) do not wait longer: the rate fills them anyway', () => {
    expect(lingerFor(o, { at: 1_000, size: 16 }, 1_001)).toBe(10);
    expect(lingerFor(o, { at: 1_000, size: 64 }, 1_001)).toBe(10);
  });

  it('lingerMaxMs equal to lingerMs (or unset) turns the adaptive wait off', () => {
    expect(lingerFor({ lingerMs: 10, batch: 64 }, { at: 1_000, size: 1 }, 1_001)).toBe(10);
    expect(lingerFor({ lingerMs: 10, lingerMaxMs: 10, batch: 64 }, { at: 1_000, size: 1 }, 1_001)).toBe(10);
  });
});
