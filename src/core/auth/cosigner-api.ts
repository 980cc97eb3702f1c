import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { signRequest } from './request.ts';

/**
 * The co-signer's wire protocol, shared by the coordinator (client) and the co-signer (server) so
 * neither imports the other. Both ends parse strictly (`.strict()`: an unknown field is refused,
 * never ignored — a field the co-signer ignores is a field an attacker can use).
 *
 *   POST /v1/sign        body: SignRequest       → 200 SignResponse (ok: true) | 4xx/5xx Refusal (ok: false)
 *   POST /v1/sign-batch  body: SignBatchRequest  → 200 SignBatchResponse | 4xx/5xx Refusal (whole request)
 *   GET  /v1/status                             → 200 CosignerStatus
 *
 * Both are authenticated with a signed request (request.ts); the body digest binds the body.
 */
export const COSIGNER_PATHS = {
  sign: '/v1/sign',
  signBatch: '/v1/sign-batch',
  status: '/v1/status',
} as const;

/** Most items in one `/v1/sign-batch` request (a larger batch is refused whole: BATCH_TOO_LARGE). */
export const MAX_SIGN_BATCH = 64;

const HEX = /^0x[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The unsigned transaction the co-signer decodes itself. Chain-specific content is parsed again
 * strictly by the chain verifier (src/core/chains/*): here only its envelope.
 */
export const txPayloadSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('safe'),
      /** Safe address (checksummed or lower-case hex). */
      safe: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
      /** The EIP-712 SafeTx fields; the co-signer recomputes safeTxHash from them. */
      safeTx: z.record(z.string(), z.unknown()),
    })
    .strict(),
  z
    .object({
      kind: z.literal('evm-hot'),
      /** Unsigned EIP-1559 transaction, 0x02 || rlp([...]) without signature fields. */
      unsignedTx: z
        .string()
        .regex(HEX)
        .max(2 + 2 * 131072),
    })
    .strict(),
  z
    .object({
      kind: z.literal('psbt'),
      /** PSBT (BIP 174 v0 or BIP 370 v2), base64. */
      psbt: z
        .string()
        .regex(BASE64)
        .max(4 * 1024 * 1024),
    })
    .strict(),
]);
export type TxPayload = z.infer<typeof txPayloadSchema>;

export const signRequestSchema = z
  .object({
    /** The intent exactly as the requester signed it (parsed again with parseIntent). */
    intent: z.unknown(),
    /** Requester's signature over the intent digest (format: src/core/approval). */
    requesterSignature: z.unknown(),
    /** Approver signatures over approval digests (format: src/core/approval). */
    approvals: z.array(z.unknown()).max(256),
    tx: txPayloadSchema,
  })
  .strict();
export type SignRequest = z.infer<typeof signRequestSchema>;

const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/);

export const signatureResultSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('safe'),
      safeTxHash: hex32,
      /** Owner address of this co-signer's key. */
      signer: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
      /** 65 bytes r || s || v with v = 27 + yParity (Safe's ECDSA owner signature). */
      signature: z.string().regex(/^0x[0-9a-f]{130}$/),
    })
    .strict(),
  z
    .object({
      kind: z.literal('evm-hot'),
      /** keccak256 of the unsigned transaction (what was signed). */
      signingHash: hex32,
      r: hex32,
      s: hex32,
      yParity: z.union([z.literal(0), z.literal(1)]),
    })
    .strict(),
  z
    .object({
      kind: z.literal('psbt'),
      /** The PSBT with this co-signer's partial signatures added (base64). */
      psbt: z.string().regex(BASE64),
      /** One entry per input signed: DER signature + sighash byte, compressed pubkey. */
      partialSigs: z
        .array(
          z
            .object({
              input: z.number().int().nonnegative(),
              pubkey: z.string().regex(/^[0-9a-f]{66}$/),
              signature: z.string().regex(/^[0-9a-f]{16,146}$/),
            })
            .strict(),
        )
        .min(1),
    })
    .strict(),
]);
export type SignatureResult = z.infer<typeof signatureResultSchema>;

export const signResponseSchema = z
  .object({
    ok: z.literal(true),
    cosigner: z.string(),
    intentId: z.uuid(),
    /** True when this exact transaction was signed before and the stored signature is returned. */
    repeated: z.boolean(),
    result: signatureResultSchema,
  })
  .strict();
export type SignResponse = z.infer<typeof signResponseSchema>;

/** Typed refusal (the body of every non-2xx response). `code` is stable; see docs/cosigner.md. */
export const refusalSchema = z
  .object({
    ok: z.literal(false),
    code: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
    message: z.string(),
    /** Which pipeline step refused (auth, parse, requester, policy, approvals, chain, ledger, sign). */
    step: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Refusal = z.infer<typeof refusalSchema>;

export const cosignerStatusSchema = z
  .object({
    ok: z.literal(true),
    cosigner: z.string(),
    keyBackend: z.enum(['file', 'pkcs11', 'memory']),
    /** Compressed secp256k1 public key (hex) of the signing key. */
    publicKey: z.string(),
    bundle: z.object({ sequence: z.number().int(), hash: z.string() }).strict().nullable(),
    ledgerEntries: z.number().int(),
    /** Entries in the hash-chained refusal log; -1 when the log does not verify. */
    refusals: z.number().int(),
    /** Requests refused before their signature verified, since start (counted, not logged). */
    unauthenticatedRefusals: z.number().int(),
  })
  .strict();
export type CosignerStatus = z.infer<typeof cosignerStatusSchema>;

export const signOutcomeSchema = z.union([signResponseSchema, refusalSchema]);

/**
 * `POST /v1/sign-batch`: many sign requests in one authenticated round trip. Each item is judged
 * exactly as `/v1/sign` would judge it alone; the answer carries one outcome per item, in order.
 */
export const signBatchRequestSchema = z
  .object({ items: z.array(signRequestSchema).min(1).max(MAX_SIGN_BATCH) })
  .strict();
export type SignBatchRequest = z.infer<typeof signBatchRequestSchema>;

/**
 * The envelope only (items left opaque): the co-signer parses each item on its own so that one
 * malformed item is refused alone, like the same bytes sent to `/v1/sign`.
 */
export const signBatchEnvelopeSchema = z
  .object({ items: z.array(z.unknown()).min(1).max(MAX_SIGN_BATCH) })
  .strict();

export const signBatchResponseSchema = z
  .object({
    ok: z.literal(true),
    cosigner: z.string(),
    results: z.array(signOutcomeSchema).min(1).max(MAX_SIGN_BATCH),
  })
  .strict();
export type SignBatchResponse = z.infer<typeof signBatchResponseSchema>;

/**
 * Refusals about timing or the co-signer's own state, not the request's content: the same request
 * may succeed later (send it again with a fresh signed-request timestamp and nonce). Every other
 * code is final for that content. `DELAY_NOT_ELAPSED` carries `details.retryAfterMs`.
 */
export const TRANSIENT_REFUSAL_CODES: ReadonlySet<string> = new Set([
  'AUTH_STALE',
  'DELAY_NOT_ELAPSED',
  'NO_TRUST_BUNDLE',
  'CHAIN_STATE_UNAVAILABLE',
  'SIGNING_FAILED',
  'PKCS11_SIGN_FAILED',
  'INTERNAL',
]);

/**
 * Client helper for the coordinator: the exact body bytes and headers to POST to a co-signer.
 * Pure (clock and nonce passed in); the caller does the HTTP. Send `body` byte-for-byte: the
 * signature covers its SHA-256.
 */
export function buildSignHttpRequest(
  key: { keyId: string; privateKey: KeyObject },
  cosignerId: string,
  request: SignRequest,
  clock: { timestampMs: number; nonce: Uint8Array },
): SignedPost {
  return signedPost(key, cosignerId, COSIGNER_PATHS.sign, signRequestSchema.parse(request), clock);
}

/** Same as buildSignHttpRequest for `POST /v1/sign-batch` (1..MAX_SIGN_BATCH items). */
export function buildSignBatchHttpRequest(
  key: { keyId: string; privateKey: KeyObject },
  cosignerId: string,
  items: readonly SignRequest[],
  clock: { timestampMs: number; nonce: Uint8Array },
): SignedPost {
  const body = signBatchRequestSchema.parse({ items });
  return signedPost(key, cosignerId, COSIGNER_PATHS.signBatch, body, clock);
}

type SignedPost = { method: 'POST'; path: string; headers: Record<string, string>; body: string };

function signedPost(
  key: { keyId: string; privateKey: KeyObject },
  cosignerId: string,
  path: string,
  parsed: unknown,
  clock: { timestampMs: number; nonce: Uint8Array },
): SignedPost {
  const body = JSON.stringify(parsed);
  const headers = signRequest(key.privateKey, {
    keyId: key.keyId,
    audience: cosignerId,
    method: 'POST',
    path,
    body,
    timestampMs: clock.timestampMs,
    nonce: clock.nonce,
  });
  return { method: 'POST', path, headers: { ...headers, 'content-type': 'application/json' }, body };
}

/** Signed headers for `GET /v1/status` (empty body). */
export function buildStatusHttpRequest(
  key: { keyId: string; privateKey: KeyObject },
  cosignerId: string,
  clock: { timestampMs: number; nonce: Uint8Array },
): { method: 'GET'; path: string; headers: Record<string, string> } {
  const headers = signRequest(key.privateKey, {
    keyId: key.keyId,
    audience: cosignerId,
    method: 'GET',
    path: COSIGNER_PATHS.status,
    body: new Uint8Array(0),
    timestampMs: clock.timestampMs,
    nonce: clock.nonce,
  });
  return { method: 'GET', path: COSIGNER_PATHS.status, headers };
}

/** Parses a co-signer response body strictly: a signature or a typed refusal, nothing else. */
export function parseSignOutcome(json: unknown): SignResponse | Refusal {
  return signOutcomeSchema.parse(json);
}
