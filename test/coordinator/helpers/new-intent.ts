import { randomUUID } from 'node:crypto';
import type { NewIntent } from '../../../src/store/workflow/intents.ts';

/** Fixed clock of the store tests and seconds after it. */
export const T0 = new Date('2026-03-01T10:00:00.000Z');
export const at = (s: number) => new Date(T0.getTime() + s * 1000);

/** A stored-intent row for store tests (its JSON is not a real intent: the stores never parse it). */
export function newIntent(over: Partial<NewIntent> = {}): NewIntent {
  const id = randomUUID();
  return {
    id,
    digest: id.replaceAll('-', '').padEnd(64, '0'),
    intentJson: JSON.stringify({ id }),
    signature: { alg: 'ed25519', sig: 'x' },
    requestedBy: 'svc-backoffice',
    wallet: 'hot-eth',
    chain: 'eip155:1',
    expiresAt: at(3600),
    ...over,
  };
}
