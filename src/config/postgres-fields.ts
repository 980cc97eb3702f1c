import { z } from 'zod';

/**
 * `idleTimeoutMs` of a PostgreSQL store (coordinator `database.postgres`, co-signer
 * `store.postgres`): how long an idle pooled connection is kept, 1 s – 24 h; omitted = the
 * 5-minute default of openPostgres (src/store/postgres.ts).
 */
export const postgresIdleTimeoutMs = z.number().int().min(1_000).max(86_400_000).optional();
