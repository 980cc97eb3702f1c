import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEntryInput } from '../core/audit/index.ts';
import type { ScreeningReloadEvent } from '../core/screening/types.ts';
import type { ListFile } from './file-provider.ts';

/**
 * Screening configuration: which list files to load. `ofacDirectories` are snapshots of the OFAC
 * SDN digital-currency export (every `sanctioned_addresses_<ASSET>.txt` inside is loaded);
 * `files` are plain address-per-line lists (e.g. the FBI's), optionally named.
 */
export interface ScreeningListsConfig {
  ofacDirectories?: string[];
  files?: (string | ListFile)[];
}

export function listFilesFromConfig(config: ScreeningListsConfig): ListFile[] {
  const out: ListFile[] = [];
  for (const dir of config.ofacDirectories ?? []) {
    for (const f of readdirSync(dir).sort()) {
      if (/^sanctioned_addresses_[A-Z0-9]+\.txt$/.test(f)) out.push({ path: join(dir, f) });
    }
  }
  for (const f of config.files ?? []) out.push(typeof f === 'string' ? { path: f } : f);
  if (out.length === 0) throw new Error('screening configuration names no list files');
  return out;
}

/** The audit-log entry for a list (re)load: kind `screening.lists.reload`, the digest in the body. */
export function screeningReloadAuditEntry(event: ScreeningReloadEvent, actor = 'system'): AuditEntryInput {
  return { kind: 'screening.lists.reload', actor, subject: event.provider, body: event };
}

/**
 * An `onReload` callback that appends every reload to the audit log. Append failures go to
 * `onError` (the reload itself already happened; the caller decides whether to alert or stop).
 */
export function auditReloads(
  audit: { append(entry: AuditEntryInput): Promise<unknown> },
  onError: (e: unknown) => void,
): (event: ScreeningReloadEvent) => void {
  return (event) => {
    audit.append(screeningReloadAuditEntry(event)).catch(onError);
  };
}
