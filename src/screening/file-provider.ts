import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { buildListSet, type ListSet, type ListSource, screenAgainst } from '../core/screening/lists.ts';
import type {
  ScreeningProvider,
  ScreeningReloadEvent,
  ScreeningResult,
  ScreeningStatus,
} from '../core/screening/types.ts';

/**
 * Screening against lists on disk: the OFAC SDN digital-currency exports
 * (`sanctioned_addresses_<ASSET>.txt`) and plain address-per-line lists such as the FBI's.
 *
 * Reloads are atomic: every file is read and parsed into a new in-memory set first; only when all
 * succeeded does the provider switch to it (one reference assignment), so a lookup sees either the
 * old lists or the new ones, never a half-loaded mix. A failed reload keeps the old lists and is
 * reported. Every attempt is reported through `onReload` with the set's digest; the caller appends
 * it to the audit log. Before the first successful load every lookup answers `unavailable`.
 */
export interface ListFile {
  path: string;
  /** defaults to a name derived from the path, e.g. `ofac-sdn-2025-05-30/ETH` */
  name?: string;
}

export interface FileListProviderOptions {
  files: ListFile[];
  name?: string;
  onReload?: (event: ScreeningReloadEvent) => void;
}

/** `…/ofac-sdn-2025-05-30/sanctioned_addresses_ETH.txt` → `ofac-sdn-2025-05-30/ETH`. */
export function listNameFor(path: string): string {
  const file = basename(path);
  const m = /^sanctioned_addresses_([A-Z0-9]+)\.txt$/.exec(file);
  return `${basename(dirname(path))}/${m ? m[1] : file.replace(/\.txt$/, '')}`;
}

export class FileListProvider implements ScreeningProvider {
  readonly name: string;
  private set: ListSet | undefined;
  private readonly files: ListFile[];
  private readonly onReload: ((e: ScreeningReloadEvent) => void) | undefined;

  constructor(opts: FileListProviderOptions) {
    this.name = opts.name ?? 'file-lists';
    this.files = [...opts.files];
    this.onReload = opts.onReload;
  }

  /** The digest of the lists in force (undefined before the first successful load). */
  get digest(): string | undefined {
    return this.set?.digest;
  }

  get size(): number {
    return this.set?.size ?? 0;
  }

  /** Reads every file and swaps the lists in one step. Resolves with the event it reported. */
  async reload(): Promise<ScreeningReloadEvent> {
    const previousDigest = this.set?.digest;
    let event: ScreeningReloadEvent;
    try {
      const sources: ListSource[] = await Promise.all(
        this.files.map(async (f) => ({
          name: f.name ?? listNameFor(f.path),
          text: await readFile(f.path, 'utf8'),
        })),
      );
      const next = buildListSet(sources);
      this.set = next; // the atomic switch
      event = {
        provider: this.name,
        ok: true,
        digest: next.digest,
        ...(previousDigest !== undefined ? { previousDigest } : {}),
        lists: [...next.lists],
      };
    } catch (e) {
      event = {
        provider: this.name,
        ok: false,
        ...(previousDigest !== undefined ? { previousDigest } : {}),
        lists: this.set ? [...this.set.lists] : [],
        error: e instanceof Error ? e.message : String(e),
      };
    }
    this.onReload?.(event);
    return event;
  }

  /** Synchronous lookup for hot paths (bench, batch screening). */
  lookupSync(_chain: string, address: string): ScreeningResult {
    const set = this.set;
    if (!set) return { status: 'unavailable', lists: [], provider: this.name, error: 'lists not loaded' };
    return screenAgainst(set, address, this.name);
  }

  async lookup(chain: string, address: string): Promise<ScreeningResult> {
    return this.lookupSync(chain, address);
  }

  async check(chain: string, address: string): Promise<ScreeningStatus> {
    return this.lookupSync(chain, address).status;
  }
}
