import type { AddressBookEntry } from '../policy/types.ts';
import { addressKey } from './entry.ts';

/**
 * Address book indexed by chain and normalised address, so an evaluation looks a destination up
 * in O(1). Pass one to `evaluate` in hot paths; a plain array is indexed per call.
 * Times are parsed once here; `known` applies the same rule as `countsAsKnown`.
 */
interface Indexed {
  entry: AddressBookEntry;
  addedMs: number;
  activeMs: number;
  revokedMs: number;
}

export class AddressBookIndex {
  /** chain → normalised address → entries */
  private readonly byAddress = new Map<string, Map<string, Indexed[]>>();
  private readonly byChain = new Map<string, AddressBookEntry[]>();

  constructor(entries: readonly AddressBookEntry[]) {
    for (const e of entries) {
      const k = addressKey(e.chain, e.address);
      const it: Indexed = {
        entry: e,
        addedMs: Date.parse(e.addedAt),
        activeMs: Date.parse(e.activeFrom),
        revokedMs: e.revokedAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(e.revokedAt),
      };
      let chain = this.byAddress.get(e.chain);
      if (!chain) {
        chain = new Map();
        this.byAddress.set(e.chain, chain);
      }
      const list = chain.get(k);
      if (list) list.push(it);
      else chain.set(k, [it]);
      const c = this.byChain.get(e.chain);
      if (c) c.push(e);
      else this.byChain.set(e.chain, [e]);
    }
  }

  /** Every entry (any status) for this address on this chain. */
  entries(chain: string, address: string): AddressBookEntry[] {
    return (this.byAddress.get(chain)?.get(addressKey(chain, address)) ?? []).map((i) => i.entry);
  }

  /**
   * The entry that makes the address known at `nowMs`, if any: status pending/active (not
   * revoked), cool-down elapsed, revocation time not reached, and a cool-down of at least
   * `floorMs` (an entry written with a shorter one — by a buggy or compromised writer — never counts).
   * Unparseable times never count (NaN comparisons are false).
   */
  known(
    chain: string,
    address: string,
    nowMs: number,
    floorMs: number,
    /** addressKey(chain, address), if the caller already computed it */
    key?: string,
  ): AddressBookEntry | undefined {
    const list = this.byAddress.get(chain)?.get(key ?? addressKey(chain, address));
    if (!list) return undefined;
    for (const i of list) {
      const s = i.entry.status;
      if (s !== 'active' && s !== 'pending') continue;
      if (!(i.activeMs - i.addedMs >= floorMs)) continue;
      if (!(i.activeMs <= nowMs)) continue;
      if (!(i.revokedMs > nowMs)) continue;
      return i.entry;
    }
    return undefined;
  }

  /** All entries on a chain (look-alike candidates). */
  onChain(chain: string): readonly AddressBookEntry[] {
    return this.byChain.get(chain) ?? [];
  }
}
