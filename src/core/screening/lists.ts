import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../encoding/canonical-json.ts';
import { CustosError } from '../errors/base.ts';
import type { ScreeningResult, ScreeningStatus } from './types.ts';

/**
 * In-memory screening lists: the pure part of the file provider (no I/O — the caller reads the
 * files and hands over their text).
 *
 * Matching: EVM addresses (0x + 40 hex) are compared case-insensitively — the OFAC lists mix
 * EIP-55 and all-lowercase spellings of the same key, and an attacker must not escape a list by
 * re-casing an address. Everything else (Bitcoin base58 and bech32) is compared exactly: base58 is
 * case-sensitive, and bech32 destinations are validated lowercase before they reach here.
 */
export const LIST_SET_DOMAIN_TAG = 'CUSTOS-SCREENING-LISTS-V1\n';

const EVM_RE = /^0x[0-9a-fA-F]{40}$/;

export interface ListSource {
  /** e.g. 'ofac-sdn/ETH' or 'fbi-psa250226' */
  name: string;
  text: string;
}

export interface ListSummary {
  name: string;
  digest: string;
  entries: number;
}

export interface ListSet {
  /** hex SHA-256 over a domain tag and the canonical JSON of the per-list digests, sorted by name */
  readonly digest: string;
  readonly lists: readonly ListSummary[];
  readonly size: number;
  /** names of the lists containing the address (empty array if none) */
  match(address: string): readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

/** Key under which an address is stored and looked up. */
export function screeningKey(address: string): string {
  // Fast path for the hot lookup: "0x" + 40 characters is EVM-shaped; lower-casing a non-hex
  // string of that shape can never make it equal to a listed (hex) key, so no regex is needed.
  return address.length === 42 && address.charCodeAt(0) === 48 && (address.charCodeAt(1) | 32) === 120
    ? address.toLowerCase()
    : address;
}

/** Whether the address is EVM-shaped (for callers that want to validate lists strictly). */
export function isEvmShaped(address: string): boolean {
  return EVM_RE.test(address);
}

/**
 * Every listed entry must look like an address (20–128 letters and digits, the range of the
 * OFAC formats from Bitcoin base58 to 95-character Monero). A list that does not — an HTML error
 * page saved as the list, a truncated download with a half line — fails the reload as a whole, so
 * the previous lists stay in force instead of being silently replaced by junk.
 */
const ENTRY_RE = /^[A-Za-z0-9]{20,128}$/;

/** Parses one list: one address per line; blank lines and `#` comments ignored; whitespace trimmed. */
export function parseListLines(text: string, name = 'list'): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!ENTRY_RE.test(line)) {
      throw new CustosError('SCREENING_LIST_INVALID', 'a screening list line is not an address', {
        details: { list: name, line: i + 1 },
      });
    }
    out.push(line);
  }
  return out;
}

export function buildListSet(sources: readonly ListSource[]): ListSet {
  const index = new Map<string, string[]>();
  const lists: ListSummary[] = [];
  const seenNames = new Set<string>();
  for (const src of sources) {
    if (seenNames.has(src.name)) {
      throw new CustosError('SCREENING_LIST_INVALID', 'two screening lists share a name', {
        details: { list: src.name },
      });
    }
    seenNames.add(src.name);
    const addrs = parseListLines(src.text, src.name);
    for (const a of addrs) {
      const k = screeningKey(a);
      const names = index.get(k);
      if (!names) index.set(k, [src.name]);
      else if (!names.includes(src.name)) names.push(src.name);
    }
    lists.push({ name: src.name, digest: bytesToHex(sha256(utf8ToBytes(src.text))), entries: addrs.length });
  }
  lists.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const digest = bytesToHex(
    sha256(utf8ToBytes(LIST_SET_DOMAIN_TAG + canonicalJson(lists.map((l) => [l.name, l.digest])))),
  );
  return {
    digest,
    lists,
    size: index.size,
    match(address) {
      return index.get(screeningKey(address)) ?? NONE;
    },
  };
}

/** Looks an address up in a list set and phrases the answer as a screening result. */
export function screenAgainst(set: ListSet, address: string, provider: string): ScreeningResult {
  const lists = set.match(address);
  const status: ScreeningStatus = lists.length > 0 ? 'hit' : 'clear';
  return { status, lists: [...lists], provider };
}
