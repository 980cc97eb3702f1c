import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AUTH_HEADERS,
  buildSignHttpRequest,
  ed25519PrivateKey,
  ed25519PublicKey,
  ed25519RawPublicKey,
  type IncomingRequest,
  type SignRequest,
  signRequest,
  verifySignedRequest,
} from '../../src/core/auth/index.ts';

const priv = ed25519PrivateKey(new Uint8Array(32).fill(7));
const pub = ed25519PublicKey(ed25519RawPublicKey(priv));
const other = ed25519PrivateKey(new Uint8Array(32).fill(9));
const NOW = 1_780_000_000_000;

function signed(body = '{"a":1}', path = '/v1/sign', ts = NOW): IncomingRequest {
  const headers = signRequest(priv, {
    keyId: 'coordinator-1',
    audience: 'cosigner-a',
    method: 'POST',
    path,
    body,
    timestampMs: ts,
    nonce: randomBytes(16),
  });
  return { method: 'POST', path, body: new TextEncoder().encode(body), headers };
}

const opts = {
  audience: 'cosigner-a',
  resolveKey: (id: string) => (id === 'coordinator-1' ? pub : undefined),
  nowMs: NOW,
};

describe('signed requests', () => {
  it('accepts a correctly signed request and returns the nonce to record', () => {
    const req = signed();
    const r = verifySignedRequest(req, opts);
    expect(r).toEqual({
      ok: true,
      value: { keyId: 'coordinator-1', nonce: req.headers[AUTH_HEADERS.nonce], timestampMs: NOW },
    });
  });

  it('refuses a tampered body (one byte)', () => {
    const req = signed('{"a":1}');
    req.body = new TextEncoder().encode('{"a":2}');
    expect(verifySignedRequest(req, opts)).toMatchObject({ ok: false, code: 'AUTH_BAD_SIGNATURE' });
  });

  it('refuses the right signature on the wrong path or method', () => {
    const req = signed();
    expect(verifySignedRequest({ ...req, path: '/v1/status' }, opts)).toMatchObject({
      code: 'AUTH_BAD_SIGNATURE',
    });
    expect(verifySignedRequest({ ...req, method: 'PUT' }, opts)).toMatchObject({
      code: 'AUTH_BAD_SIGNATURE',
    });
  });

  it('refuses a stale or future timestamp (window is both ways)', () => {
    expect(verifySignedRequest(signed(undefined, undefined, NOW - 31_000), opts)).toMatchObject({
      code: 'AUTH_STALE',
    });
    expect(verifySignedRequest(signed(undefined, undefined, NOW + 31_000), opts)).toMatchObject({
      code: 'AUTH_STALE',
    });
    expect(verifySignedRequest(signed(undefined, undefined, NOW - 29_000), opts).ok).toBe(true);
  });

  it('refuses an unknown key and a key signing under another key id', () => {
    expect(verifySignedRequest(signed(), { ...opts, resolveKey: () => undefined })).toMatchObject({
      code: 'AUTH_UNKNOWN_KEY',
    });
    const req = signed();
    const forged = signRequest(other, {
      keyId: 'coordinator-1',
      audience: 'cosigner-a',
      method: 'POST',
      path: '/v1/sign',
      body: req.body,
      timestampMs: NOW,
      nonce: randomBytes(16),
    });
    expect(verifySignedRequest({ ...req, headers: forged }, opts)).toMatchObject({
      code: 'AUTH_BAD_SIGNATURE',
    });
  });

  it('refuses a request addressed to another co-signer', () => {
    expect(verifySignedRequest(signed(), { ...opts, audience: 'cosigner-b' })).toMatchObject({
      code: 'AUTH_WRONG_AUDIENCE',
    });
  });

  it('refuses missing, repeated or malformed headers', () => {
    const req = signed();
    const { [AUTH_HEADERS.signature]: _s, ...noSig } = req.headers;
    expect(verifySignedRequest({ ...req, headers: noSig }, opts)).toMatchObject({ code: 'AUTH_MISSING' });
    expect(
      verifySignedRequest({ ...req, headers: { ...req.headers, [AUTH_HEADERS.nonce]: ['a', 'b'] } }, opts),
    ).toMatchObject({ code: 'AUTH_MISSING' });
    expect(
      verifySignedRequest({ ...req, headers: { ...req.headers, [AUTH_HEADERS.timestamp]: '01' } }, opts),
    ).toMatchObject({ code: 'AUTH_MALFORMED' });
  });

  it('the client helper signs exactly the bytes it returns', () => {
    const http = buildSignHttpRequest(
      { keyId: 'coordinator-1', privateKey: priv },
      'cosigner-a',
      { intent: { x: 1 }, requesterSignature: null, approvals: [], tx: { kind: 'psbt', psbt: 'cHNidP8=' } },
      { timestampMs: NOW, nonce: randomBytes(16) },
    );
    const r = verifySignedRequest(
      {
        method: http.method,
        path: http.path,
        body: new TextEncoder().encode(http.body),
        headers: http.headers,
      },
      opts,
    );
    expect(r.ok).toBe(true);
    expect(() =>
      buildSignHttpRequest(
        { keyId: 'coordinator-1', privateKey: priv },
        'cosigner-a',
        {
          intent: {},
          requesterSignature: null,
          approvals: [],
          tx: { kind: 'psbt', psbt: 'x', extra: 1 } as unknown as SignRequest['tx'],
        },
        { timestampMs: NOW, nonce: randomBytes(16) },
      ),
    ).toThrow();
  });
});
