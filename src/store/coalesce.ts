/**
 * Turns a per-item write into a batched one: items handed in during the same turn of the event
 * loop are written together by one `flush` call (one statement, one commit), and every caller's
 * promise settles with that write — so "recorded before it is used" still holds for each caller.
 * Used where many concurrent workflow steps each record one row (one statement per row was most of
 * the database work per withdrawal).
 */
export function coalesce<T>(flush: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let pending: { items: T[]; done: Promise<void> } | undefined;
  return (item) => {
    if (pending) {
      pending.items.push(item);
      return pending.done;
    }
    const batch: { items: T[]; done: Promise<void> } = { items: [item], done: Promise.resolve() };
    batch.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      pending = undefined;
      return flush(batch.items);
    });
    pending = batch;
    return batch.done;
  };
}
