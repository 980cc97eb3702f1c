import { validateAddress } from '../chains/address.ts';
import { parseChainId } from '../chains/caip.ts';
import { InvalidInputError } from '../errors/base.ts';
import { RFC3339_UTC_RE } from '../intent/schema.ts';
import type { AddressBookEntry, AddressBookStatus } from '../policy/types.ts';

/**
 * Address-book rules (pure). A new entry is `pending` until `activeFrom = addedAt + cool-down`;
 * only then does it count as a known destination. The cool-down can be lengthened per entry but
 * never shortened below the floor set in the signed policy: an attacker who gets an address added
 * (stolen admin session, T8) still has to survive a day of alerts before funds can go there.
 */
export const DEFAULT_COOLDOWN_MS = 24 * 3_600_000;
export const ADDRESS_CATEGORIES = [
  'internal',
  'customer',
  'exchange',
  'cold-storage',
  'counterparty',
  'other',
] as const;

export interface NewAddressBookEntry {
  chain: string;
  address: string;
  label: string;
  category: string;
  owner?: string;
  /** requested cool-down; defaults to DEFAULT_COOLDOWN_MS; raised to the floor if shorter is refused */
  cooldownMs?: number;
}

/** Normalised lookup key: EVM addresses case-insensitive, Bitcoin exact. */
export function addressKey(chain: string, address: string): string {
  return chain.startsWith('eip155:') ? address.toLowerCase() : address;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * Builds a pending entry. Refuses a cool-down below `floorMs` (never silently raises it: the
 * caller must learn that its request was not what happened).
 */
export function newAddressBookEntry(
  input: NewAddressBookEntry,
  now: string,
  floorMs: number,
): AddressBookEntry {
  const chain = parseChainId(input.chain, 'chain');
  validateAddress(chain, input.address, 'address');
  if (!RFC3339_UTC_RE.test(now))
    throw new InvalidInputError('INVALID_TIME', 'now', 'not an RFC 3339 UTC time');
  if (input.label.trim() === '' || input.label.length > 200) {
    throw new InvalidInputError('INVALID_ENTRY', 'label', 'label must be 1–200 characters');
  }
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(input.category)) {
    throw new InvalidInputError('INVALID_ENTRY', 'category', 'category must be a lowercase identifier');
  }
  const cooldownMs = input.cooldownMs ?? Math.max(DEFAULT_COOLDOWN_MS, floorMs);
  if (!Number.isInteger(cooldownMs) || cooldownMs < floorMs) {
    throw new InvalidInputError(
      'COOLDOWN_BELOW_FLOOR',
      'cooldownMs',
      'cool-down is shorter than the policy floor',
      {
        details: { requestedMs: cooldownMs, floorMs },
      },
    );
  }
  const added = Date.parse(now);
  return {
    chain: input.chain,
    address: input.address,
    label: input.label,
    category: input.category,
    ...(input.owner !== undefined ? { owner: input.owner } : {}),
    status: 'pending',
    addedAt: now,
    activeFrom: iso(added + cooldownMs),
  };
}

/** Status as of `now`: a pending entry whose cool-down has elapsed is active. */
export function effectiveStatus(e: AddressBookEntry, nowMs: number): AddressBookStatus {
  if (e.status === 'revoked') return 'revoked';
  if (e.revokedAt !== undefined && Date.parse(e.revokedAt) <= nowMs) return 'revoked';
  return Date.parse(e.activeFrom) <= nowMs ? 'active' : 'pending';
}

/**
 * Whether the entry makes its address a known destination at `nowMs`: active, cool-down elapsed,
 * and the cool-down it was given is at least `floorMs` (an entry written with a shorter one — by a
 * buggy or compromised writer — never counts).
 */
export function countsAsKnown(e: AddressBookEntry, nowMs: number, floorMs: number): boolean {
  if (e.status !== 'active' && e.status !== 'pending') return false;
  const added = Date.parse(e.addedAt);
  const from = Date.parse(e.activeFrom);
  if (!Number.isFinite(added) || !Number.isFinite(from)) return false;
  if (from - added < floorMs) return false;
  return effectiveStatus(e, nowMs) === 'active';
}
