/**
 * Address screening (sanctions and law-enforcement lists). `unavailable` is a result, not an
 * exception: a provider that cannot answer says so and the policy decides (the default policy
 * blocks), so a screening outage can never turn into an unscreened withdrawal (I6 fail closed).
 */
export type ScreeningStatus = 'clear' | 'hit' | 'unavailable';

export interface ScreeningResult {
  status: ScreeningStatus;
  /** names of the lists (or provider categories) that matched; empty unless `hit` */
  lists: string[];
  /** which provider answered */
  provider: string;
  /** why the answer is `unavailable` (time-out, HTTP status, malformed reply) */
  error?: string;
}

export interface ScreeningProvider {
  readonly name: string;
  /** `chain` is a CAIP-2 id; `address` as it appears in the intent. Never rejects. */
  check(chain: string, address: string): Promise<ScreeningStatus>;
  /** Same as check, with the lists that hit. Never rejects. */
  lookup(chain: string, address: string): Promise<ScreeningResult>;
}

/** Emitted after every list (re)load attempt; the caller appends it to the audit log. */
export interface ScreeningReloadEvent {
  provider: string;
  ok: boolean;
  /** hex SHA-256 over the loaded lists (see listSetDigest); absent when the reload failed */
  digest?: string;
  /** the digest that was in force before (undefined on first load) */
  previousDigest?: string;
  lists: { name: string; digest: string; entries: number }[];
  error?: string;
}
