import { describe, expect, it } from 'vitest';
import { coalesce } from '../../src/store/coalesce.ts';

describe('coalesce', () => {
  it('writes the items handed in during one turn together, and each caller waits for that write', async () => {
    const flushed: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const write = coalesce<number>(async (items) => {
      flushed.push([...items]);
      await gate;
    });
    let settled = 0;
    const first = [write(1), write(2), write(3)].map((p) => p.then(() => settled++));
    await new Promise((r) => setImmediate(r));
    // The batch is being written: nobody has been told it is recorded yet.
    expect(flushed).toEqual([[1, 2, 3]]);
    expect(settled).toBe(0);
    const later = write(4);
    release();
    await Promise.all(first);
    await later;
    expect(flushed).toEqual([[1, 2, 3], [4]]);
  });

  it('a failed write rejects every caller of its batch, and the next batch starts afresh', async () => {
    let fail = true;
    const write = coalesce<number>(async () => {
      if (fail) throw new Error('database down');
    });
    const a = write(1);
    const b = write(2);
    await expect(a).rejects.toThrow('database down');
    await expect(b).rejects.toThrow('database down');
    fail = false;
    await expect(write(3)).resolves.toBeUndefined();
  });
});
