export { fingerprint, INTENT_DOMAIN_TAG, intentDigest, intentDigestHex } from './digest.ts';
export {
  AMOUNT_RE,
  DISPLAY_UNSAFE_RE,
  type Intent,
  intentSchema,
  parseIntent,
  RFC3339_UTC_RE,
  UUID_RE,
} from './schema.ts';
