import { canonicalJson } from '../core/encoding/canonical-json.ts';
import type { ScreeningReloadEvent } from '../core/screening/types.ts';
import type { Queryable } from './db.ts';

/** Records which screening list set (by digest) was loaded when; the audit log gets the same event. */
export async function recordListLoad(db: Queryable, event: ScreeningReloadEvent, at: string): Promise<void> {
  if (!event.ok || event.digest === undefined) return;
  await db.query(
    'INSERT INTO screening_list_loads (provider, digest, lists, loaded_at) VALUES ($1, $2, $3, $4)',
    [event.provider, event.digest, canonicalJson(event.lists), at],
  );
}

export async function latestListLoad(
  db: Queryable,
  provider: string,
): Promise<{ digest: string; loadedAt: string } | undefined> {
  const { rows } = await db.query<{ digest: string; loaded_at: string }>(
    'SELECT digest, loaded_at FROM screening_list_loads WHERE provider = $1 ORDER BY id DESC LIMIT 1',
    [provider],
  );
  return rows[0] ? { digest: rows[0].digest, loadedAt: rows[0].loaded_at } : undefined;
}
