import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 *
 * The timestamp is inside the MAC so a captured delivery cannot be replayed later than the
 * receiver's tolerance; the MAC covers the exact body bytes sent (never a re-serialization).
 */
export const SIGNATURE_HEADER = 'custos-signature';

export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type WebhookVerifyCode =
  | 'MISSING_SIGNATURE'
  | 'MALFORMED_SIGNATURE'
  | 'STALE_SIGNATURE'
  | 'BAD_SIGNATURE';

/** For receivers (and our tests): checks the header against the body within `toleranceSeconds`. */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowUnixSeconds: number,
  toleranceSeconds = 300,
): { ok: true } | { ok: false; code: WebhookVerifyCode } {
  if (!header) return { ok: false, code: 'MISSING_SIGNATURE' };
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return { ok: false, code: 'MALFORMED_SIGNATURE' };
  const t = Number(m[1]);
  if (Math.abs(nowUnixSeconds - t) > toleranceSeconds) return { ok: false, code: 'STALE_SIGNATURE' };
  const expected = Buffer.from(webhookSignature(secret, t, body).slice(-64), 'hex');
  const given = Buffer.from(m[2]!, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, code: 'BAD_SIGNATURE' };
}
