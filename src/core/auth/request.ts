import { createPrivateKey, createPublicKey, hash, type KeyObject, sign, verify } from 'node:crypto';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { fail, InvalidInputError, ok, type Result } from '../errors/base.ts';

/**
 * Signed requests: how the coordinator authenticates to a co-signer (and any other Custos service
 * to another). Ed25519 (RFC 8032, pure, no prehash) over a canonical, newline-separated message:
 *
 *   CUSTOS-REQUEST-V1\n
 *   <keyId>\n
 *   <audience>\n            the receiving service's id: a request for co-signer A is refused by B
 *   <METHOD>\n              upper case
 *   <path>\n                the request target exactly as sent (path + query), e.g. /v1/sign
 *   <hex SHA-256(body)>\n   over the raw body bytes; empty body = SHA-256 of zero bytes
 *   <timestamp>\n           Unix milliseconds, decimal, no leading zeros
 *   <nonce>                 32 lower-case hex characters (128 random bits)
 *
 * No field can contain '\n' (each is checked), so the encoding is injective. The receiver checks
 * the timestamp is inside its replay window (clock passed in) and records (keyId, nonce) for at
 * least the window so a captured request cannot be replayed (the record is the caller's job: it
 * must be an atomic insert, see the co-signer's nonce table).
 *
 * Verification uses node:crypto (OpenSSL): canonical S < L and canonical point encodings are
 * required, cofactorless equation — the strict RFC 8032 rules, not ZIP-215 leniency.
 */
export const REQUEST_DOMAIN_TAG = 'CUSTOS-REQUEST-V1';

export const AUTH_HEADERS = {
  keyId: 'x-custos-key',
  audience: 'x-custos-audience',
  timestamp: 'x-custos-timestamp',
  nonce: 'x-custos-nonce',
  signature: 'x-custos-signature',
} as const;

/** Default replay window: a request is accepted if |now - timestamp| <= 30 s. */
export const DEFAULT_REPLAY_WINDOW_MS = 30_000;

const KEY_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const NONCE_RE = /^[0-9a-f]{32}$/;
const TS_RE = /^(0|[1-9][0-9]{0,15})$/;
const METHOD_RE = /^[A-Z]{1,16}$/;
// Request target: printable ASCII without spaces (RFC 9112 §3.2 origin-form).
const PATH_RE = /^\/[\x21-\x7e]{0,2047}$/;
const SIG_RE = /^[0-9a-f]{128}$/;

export interface RequestParts {
  keyId: string;
  audience: string;
  method: string;
  path: string;
  /** SHA-256 of the raw body, 32 bytes. */
  bodyDigest: Uint8Array;
  timestampMs: number;
  nonce: string;
}

export type AuthRefusal =
  | 'AUTH_MISSING'
  | 'AUTH_MALFORMED'
  | 'AUTH_UNKNOWN_KEY'
  | 'AUTH_WRONG_AUDIENCE'
  | 'AUTH_BAD_SIGNATURE'
  | 'AUTH_STALE'
  | 'AUTH_REPLAY';

/** SHA-256 of the body (Node's one-shot hash: batch bodies are tens of kB). */
export function bodyDigest(body: Uint8Array | string): Uint8Array {
  return new Uint8Array(hash('sha256', body, 'buffer'));
}

/** The exact bytes that are signed. Throws on a field that would break the encoding. */
export function requestMessage(p: RequestParts): Uint8Array {
  if (!KEY_ID_RE.test(p.keyId)) throw new InvalidInputError('AUTH_MALFORMED', 'keyId', 'bad key id');
  if (!KEY_ID_RE.test(p.audience)) throw new InvalidInputError('AUTH_MALFORMED', 'audience', 'bad audience');
  if (!METHOD_RE.test(p.method)) throw new InvalidInputError('AUTH_MALFORMED', 'method', 'bad method');
  if (!PATH_RE.test(p.path)) throw new InvalidInputError('AUTH_MALFORMED', 'path', 'bad path');
  if (p.bodyDigest.length !== 32)
    throw new InvalidInputError('AUTH_MALFORMED', 'bodyDigest', 'body digest must be 32 bytes');
  if (!Number.isSafeInteger(p.timestampMs) || p.timestampMs < 0)
    throw new InvalidInputError('AUTH_MALFORMED', 'timestamp', 'bad timestamp');
  if (!NONCE_RE.test(p.nonce)) throw new InvalidInputError('AUTH_MALFORMED', 'nonce', 'bad nonce');
  return utf8ToBytes(
    [
      REQUEST_DOMAIN_TAG,
      p.keyId,
      p.audience,
      p.method,
      p.path,
      bytesToHex(p.bodyDigest),
      String(p.timestampMs),
      p.nonce,
    ].join('\n'),
  );
}

// DER prefixes for raw 32-byte Ed25519 keys (RFC 8410): SPKI and PKCS#8.
const SPKI_PREFIX = hexToBytes('302a300506032b6570032100');
const PKCS8_PREFIX = hexToBytes('302e020100300506032b657004220420');

/** node:crypto KeyObject for a raw 32-byte Ed25519 public key (cache it: parsing costs). */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new InvalidInputError('AUTH_MALFORMED', 'publicKey', 'must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new InvalidInputError('AUTH_MALFORMED', 'privateKey', 'must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Raw 32-byte public key of a private key (for configuration / key printing). */
export function ed25519RawPublicKey(priv: KeyObject): Uint8Array {
  const der = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export interface SignRequestInput {
  keyId: string;
  /** The receiving service's id (co-signer id). */
  audience: string;
  method: string;
  path: string;
  body: Uint8Array | string;
  /** Clock and randomness are passed in (src/core is pure). */
  timestampMs: number;
  /** 16 random bytes from the caller's CSPRNG. */
  nonce: Uint8Array;
}

/** Returns the headers to send with the request (lower-case names). */
export function signRequest(privateKey: KeyObject, input: SignRequestInput): Record<string, string> {
  if (input.nonce.length !== 16)
    throw new InvalidInputError('AUTH_MALFORMED', 'nonce', 'nonce must be 16 random bytes');
  const parts: RequestParts = {
    keyId: input.keyId,
    audience: input.audience,
    method: input.method.toUpperCase(),
    path: input.path,
    bodyDigest: bodyDigest(input.body),
    timestampMs: input.timestampMs,
    nonce: bytesToHex(input.nonce),
  };
  const sig = sign(null, requestMessage(parts), privateKey);
  return {
    [AUTH_HEADERS.keyId]: parts.keyId,
    [AUTH_HEADERS.audience]: parts.audience,
    [AUTH_HEADERS.timestamp]: String(parts.timestampMs),
    [AUTH_HEADERS.nonce]: parts.nonce,
    [AUTH_HEADERS.signature]: sig.toString('hex'),
  };
}

export interface IncomingRequest {
  method: string;
  /** Request target as received (path + query). */
  path: string;
  /** Raw body bytes exactly as received (before any JSON parsing). */
  body: Uint8Array;
  headers: Record<string, string | string[] | undefined>;
}

export interface VerifyRequestOptions {
  /** This service's id; the request must name it. */
  audience: string;
  /** Public key for a key id, or undefined when the key is unknown / revoked. */
  resolveKey(keyId: string): KeyObject | undefined;
  /** Current time, Unix ms (passed in). */
  nowMs: number;
  windowMs?: number;
}

export interface VerifiedRequest {
  keyId: string;
  nonce: string;
  timestampMs: number;
}

function header(h: IncomingRequest['headers'], name: string): string | undefined {
  const v = h[name];
  // Repeated auth headers are ambiguous (which one was signed?): refuse rather than pick one.
  if (Array.isArray(v)) return undefined;
  return v;
}

/** Replay window check on its own: the clock is passed in. */
export function withinWindow(timestampMs: number, nowMs: number, windowMs = DEFAULT_REPLAY_WINDOW_MS) {
  return Math.abs(nowMs - timestampMs) <= windowMs;
}

/**
 * Verifies a signed request: headers well formed, audience is us, key known, signature valid over
 * method/path/body digest/timestamp/nonce, timestamp inside the window. Returns the (keyId, nonce)
 * the caller must record atomically to refuse replays inside the window.
 */
export function verifySignedRequest(
  req: IncomingRequest,
  opts: VerifyRequestOptions,
): Result<VerifiedRequest, AuthRefusal> {
  const keyId = header(req.headers, AUTH_HEADERS.keyId);
  const audience = header(req.headers, AUTH_HEADERS.audience);
  const ts = header(req.headers, AUTH_HEADERS.timestamp);
  const nonce = header(req.headers, AUTH_HEADERS.nonce);
  const sig = header(req.headers, AUTH_HEADERS.signature);
  if (keyId === undefined || audience === undefined || ts === undefined || nonce === undefined || !sig)
    return fail('AUTH_MISSING', 'signed-request headers missing or repeated');
  if (
    !KEY_ID_RE.test(keyId) ||
    !KEY_ID_RE.test(audience) ||
    !TS_RE.test(ts) ||
    !NONCE_RE.test(nonce) ||
    !SIG_RE.test(sig) ||
    !METHOD_RE.test(req.method) ||
    !PATH_RE.test(req.path)
  )
    return fail('AUTH_MALFORMED', 'signed-request headers are malformed');
  if (audience !== opts.audience)
    return fail('AUTH_WRONG_AUDIENCE', 'request was signed for another service', { audience });
  const key = opts.resolveKey(keyId);
  if (!key) return fail('AUTH_UNKNOWN_KEY', 'unknown request key', { keyId });
  const timestampMs = Number(ts);
  const message = requestMessage({
    keyId,
    audience,
    method: req.method,
    path: req.path,
    bodyDigest: bodyDigest(req.body),
    timestampMs,
    nonce,
  });
  if (!verify(null, message, key, Buffer.from(sig, 'hex')))
    return fail('AUTH_BAD_SIGNATURE', 'request signature does not verify', { keyId });
  // Signature first, then the clock: an unauthenticated caller learns nothing about our clock.
  if (!withinWindow(timestampMs, opts.nowMs, opts.windowMs))
    return fail('AUTH_STALE', 'request timestamp outside the replay window', {
      timestampMs,
      windowMs: opts.windowMs ?? DEFAULT_REPLAY_WINDOW_MS,
    });
  return ok({ keyId, nonce, timestampMs });
}
