import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * A software WebAuthn authenticator for tests (named as what it is: a test double for a passkey,
 * since no hardware authenticator exists in CI; the browser-driven version comes with the console).
 *
 * It produces the exact byte formats of WebAuthn L3: authenticatorData (§6.1), attested credential
 * data (§6.5.1), a COSE_Key ES256 public key (RFC 9053), a CBOR attestationObject with the "none"
 * attestation format (§8.7), clientDataJSON (§5.8.1), and DER ECDSA P-256/SHA-256 signatures over
 * authenticatorData || SHA-256(clientDataJSON). Its CBOR encoder is written here, independently
 * of the library under test, so an encoding bug on either side shows up.
 */

// ---- minimal CBOR (RFC 8949) encoder: unsigned/negative ints, byte strings, text, maps ----
type Cbor = number | Uint8Array | string | Map<Cbor, Cbor>;

function head(major: number, n: number): number[] {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
  return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

export function cborEncode(v: Cbor): Uint8Array {
  const out: number[] = [];
  const enc = (x: Cbor): void => {
    if (typeof x === 'number') {
      if (x >= 0) out.push(...head(0, x));
      else out.push(...head(1, -1 - x));
    } else if (x instanceof Uint8Array) {
      out.push(...head(2, x.length), ...x);
    } else if (typeof x === 'string') {
      const b = new TextEncoder().encode(x);
      out.push(...head(3, b.length), ...b);
    } else {
      out.push(...head(5, x.size));
      for (const [k, val] of x) {
        enc(k);
        enc(val);
      }
    }
  };
  enc(v);
  return Uint8Array.from(out);
}

const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export interface SoftAuthenticatorOptions {
  rpId?: string;
  origin?: string;
  /** Whether the authenticator reports user verification (UV flag). Default true. */
  userVerified?: boolean;
  /** Start value of the signature counter; 0 means "does not count" like many passkeys. */
  counter?: number;
  credentialId?: Uint8Array;
}

export class SoftAuthenticator {
  readonly rpId: string;
  readonly origin: string;
  readonly credentialId: Uint8Array;
  userVerified: boolean;
  counter: number;
  private readonly privateKey: KeyObject;
  private readonly publicKeyObj: KeyObject;

  constructor(opts: SoftAuthenticatorOptions = {}) {
    this.rpId = opts.rpId ?? 'custos.example';
    this.origin = opts.origin ?? 'https://custos.example';
    this.userVerified = opts.userVerified ?? true;
    this.counter = opts.counter ?? 0;
    this.credentialId = opts.credentialId ?? randomBytes(16);
    const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = kp.privateKey;
    this.publicKeyObj = kp.publicKey;
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  /** COSE_Key (kty EC2, alg ES256, crv P-256, x, y), as CBOR bytes. */
  coseKey(): Uint8Array {
    const jwk = this.publicKeyObj.export({ format: 'jwk' });
    return cborEncode(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
  }

  /** Base64url COSE key, as stored in a Custos credential. */
  get publicKey(): string {
    return b64u(this.coseKey());
  }

  private flags(extra: number): number {
    return 0x01 /* UP */ | (this.userVerified ? 0x04 /* UV */ : 0) | extra;
  }

  private authData(flags: number, attested?: Uint8Array): Uint8Array {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter >>> 0);
    return Buffer.concat([sha256(this.rpId), Buffer.from([flags]), count, attested ?? Buffer.alloc(0)]);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin?: string): Buffer {
    return Buffer.from(
      JSON.stringify({ type, challenge, origin: origin ?? this.origin, crossOrigin: false }),
      'utf8',
    );
  }

  /** navigator.credentials.create() → RegistrationResponseJSON with "none" attestation. */
  register(challenge: string): {
    id: string;
    rawId: string;
    type: 'public-key';
    clientExtensionResults: Record<string, never>;
    response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  } {
    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([
      Buffer.alloc(16) /* AAGUID: zero for "none" */,
      credIdLen,
      this.credentialId,
      this.coseKey(),
    ]);
    const authData = this.authData(this.flags(0x40 /* AT */), attested);
    const attestationObject = cborEncode(
      new Map<Cbor, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64u(this.clientData('webauthn.create', challenge)),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
    };
  }

  /** Low-level assertion over a challenge (base64url string): the three byte fields, base64url. */
  assert(
    challenge: string,
    opts: { origin?: string; type?: 'webauthn.get' | 'webauthn.create' } = {},
  ): { authenticatorData: string; clientDataJSON: string; signature: string } {
    if (this.counter > 0) this.counter++;
    const authData = this.authData(this.flags(0));
    const clientDataJSON = this.clientData(opts.type ?? 'webauthn.get', challenge, opts.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), {
      key: this.privateKey,
      dsaEncoding: 'der',
    });
    return {
      authenticatorData: b64u(authData),
      clientDataJSON: b64u(clientDataJSON),
      signature: b64u(signature),
    };
  }

  /** navigator.credentials.get() → AuthenticationResponseJSON. */
  authenticate(challenge: string) {
    const r = this.assert(challenge);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      response: r,
    };
  }

  /** A Custos WebAuthn signature object over a 32-byte action digest. */
  signDigest(digest: Uint8Array, principal: string) {
    return { principal, credentialId: this.id, type: 'webauthn' as const, ...this.assert(b64u(digest)) };
  }
}
