import {
  addressKey,
  effectiveStatus,
  type NewAddressBookEntry,
  newAddressBookEntry,
} from '../core/addressbook/entry.ts';
import { CustosError, InvalidInputError } from '../core/errors/base.ts';
import type { AddressBookEntry } from '../core/policy/types.ts';
import type { Queryable } from './db.ts';

/**
 * Address-book persistence on PostgreSQL or PGlite. The cool-down floor comes from the signed
 * policy and is enforced here (no API call can shorten it) and again by the evaluator.
 * Governance (who may add or revoke) lives with the approvals workflow; this is the data layer.
 */
interface Row {
  chain: string;
  address: string;
  label: string;
  category: string;
  owner: string | null;
  status: 'pending' | 'active' | 'revoked';
  added_at: string;
  active_from: string;
  revoked_at: string | null;
}

const COLUMNS = 'chain, address, label, category, owner, status, added_at, active_from, revoked_at';

function toEntry(r: Row, nowMs?: number): AddressBookEntry {
  const e: AddressBookEntry = {
    chain: r.chain,
    address: r.address,
    label: r.label,
    category: r.category,
    status: r.status,
    addedAt: r.added_at,
    activeFrom: r.active_from,
  };
  if (r.owner !== null) e.owner = r.owner;
  if (r.revoked_at !== null) e.revokedAt = r.revoked_at;
  if (nowMs !== undefined) e.status = effectiveStatus(e, nowMs);
  return e;
}

export class AddressBookStore {
  constructor(
    private readonly db: Queryable,
    /** the policy's addressBookCooldownFloor in ms */
    private readonly cooldownFloorMs: number,
  ) {}

  /** Adds a pending entry; refuses a duplicate (revoke first) and a cool-down below the floor. */
  async add(input: NewAddressBookEntry, now: string): Promise<AddressBookEntry> {
    const e = newAddressBookEntry(input, now, this.cooldownFloorMs);
    const res = await this.db.query(
      `INSERT INTO address_book (chain, address_key, address, label, category, owner, status, added_at, active_from)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)
       ON CONFLICT (chain, address_key) DO NOTHING`,
      [
        e.chain,
        addressKey(e.chain, e.address),
        e.address,
        e.label,
        e.category,
        e.owner ?? null,
        e.addedAt,
        e.activeFrom,
      ],
    );
    if (res.rowCount !== 1) {
      throw new CustosError('ADDRESS_EXISTS', 'address is already in the address book', {
        details: { chain: e.chain, address: e.address },
      });
    }
    return e;
  }

  /** Revokes an entry at `now`; it stops counting as known immediately. */
  async revoke(chain: string, address: string, now: string): Promise<AddressBookEntry> {
    const { rows } = await this.db.query<Row>(
      `UPDATE address_book SET status = 'revoked', revoked_at = $3
       WHERE chain = $1 AND address_key = $2 AND status <> 'revoked'
       RETURNING ${COLUMNS}`,
      [chain, addressKey(chain, address), now],
    );
    if (rows.length !== 1) {
      throw new InvalidInputError('ADDRESS_NOT_FOUND', 'address', 'no live entry for this address', {
        details: { chain, address },
      });
    }
    return toEntry(rows[0]!);
  }

  /** Marks pending entries whose cool-down has elapsed as active (housekeeping; reads compute it anyway). */
  async activateDue(now: string): Promise<number> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM address_book WHERE status = 'pending'`);
    const nowMs = Date.parse(now);
    let n = 0;
    for (const r of rows) {
      if (Date.parse(r.active_from) > nowMs) continue;
      const res = await this.db.query(
        `UPDATE address_book SET status = 'active' WHERE chain = $1 AND address_key = $2 AND status = 'pending'`,
        [r.chain, addressKey(r.chain, r.address)],
      );
      n += res.rowCount;
    }
    return n;
  }

  async get(chain: string, address: string, now?: string): Promise<AddressBookEntry | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM address_book WHERE chain = $1 AND address_key = $2`,
      [chain, addressKey(chain, address)],
    );
    return rows[0] ? toEntry(rows[0], now === undefined ? undefined : Date.parse(now)) : undefined;
  }

  /** Every entry (optionally one chain), with the status as of `now` when given. */
  async list(opts: { chain?: string; now?: string } = {}): Promise<AddressBookEntry[]> {
    const { rows } =
      opts.chain === undefined
        ? await this.db.query<Row>(`SELECT ${COLUMNS} FROM address_book ORDER BY chain, address_key`)
        : await this.db.query<Row>(
            `SELECT ${COLUMNS} FROM address_book WHERE chain = $1 ORDER BY address_key`,
            [opts.chain],
          );
    const nowMs = opts.now === undefined ? undefined : Date.parse(opts.now);
    return rows.map((r) => toEntry(r, nowMs));
  }
}
