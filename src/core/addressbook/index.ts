import type { AddressBookEntry } from '../policy/types.ts';
import { addressKey, countsAsKnown } from './entry.ts';

/**
 * Address book indexed by chain and normalised address, so an evaluation looks a destination up
 * in O(1). Pass one to `evaluate` in hot paths; a plain array is indexed per call.
 */
export class AddressBookIndex {
  private readonly byAddress = new Map<string, AddressBookEntry[]>();
  private readonly byChain = new Map<string, AddressBookEntry[]>();

  constructor(entries: readonly AddressBookEntry[]) {
    for (const e of entries) {
      const k = `${e.chain}\u0000${addressKey(e.chain, e.address)}`;
      const list = this.byAddress.get(k);
      if (list) list.push(e);
      else this.byAddress.set(k, [e]);
      const c = this.byChain.get(e.chain);
      if (c) c.push(e);
      else this.byChain.set(e.chain, [e]);
    }
  }

  /** Every entry (any status) for this address on this chain. */
  entries(chain: string, address: string): readonly AddressBookEntry[] {
    return this.byAddress.get(`${chain}\u0000${addressKey(chain, address)}`) ?? [];
  }

  /** The entry that makes the address known at `nowMs`, if any. */
  known(chain: string, address: string, nowMs: number, floorMs: number): AddressBookEntry | undefined {
    for (const e of this.entries(chain, address)) if (countsAsKnown(e, nowMs, floorMs)) return e;
    return undefined;
  }

  /** All entries on a chain (look-alike candidates). */
  onChain(chain: string): readonly AddressBookEntry[] {
    return this.byChain.get(chain) ?? [];
  }
}
