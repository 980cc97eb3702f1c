import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import pkcs11js from 'pkcs11js';
import { CustosError } from '../core/errors/base.ts';
import type { EcdsaSignature, Secp256k1Signer } from './backend.ts';
import { recoverySearch } from './ecdsa.ts';

/**
 * PKCS#11 backend (tested on SoftHSM v2; the same calls drive a network HSM). The secp256k1 key
 * is generated INSIDE the token as CKA_SENSITIVE=true, CKA_EXTRACTABLE=false, CKA_TOKEN=true: the
 * private scalar never exists outside the device, so a compromised co-signer host can ask for
 * signatures (which the verification pipeline gates) but cannot copy the key (T5, T9).
 *
 * CKM_ECDSA signs the 32-byte digest we pass as-is (no hashing inside, PKCS#11 v2.40 §2.3.6) and
 * returns r || s. We normalise to low-S and find the recovery id by trial against CKA_EC_POINT
 * (see ecdsa.ts), which also checks the device signed with the key we expect.
 */
const { PKCS11 } = pkcs11js;
type Handle = Buffer;

/** secp256k1 named curve OID 1.3.132.0.10, DER-encoded (CKA_EC_PARAMS, SEC 2 §2.4.1). */
export const SECP256K1_EC_PARAMS = Buffer.from('06052b8104000a', 'hex');
export const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (.so). */
  library: string;
  /** Token label (CK_TOKEN_INFO.label). */
  tokenLabel: string;
  /** User PIN (from env/file, never argv). */
  pin: string;
}

export interface Pkcs11Session {
  mod: InstanceType<typeof PKCS11>;
  session: Handle;
  close(): void;
}

// One initialised module per library per process (C_Initialize twice is an error); ref-counted.
const loaded = new Map<string, { mod: InstanceType<typeof PKCS11>; refs: number }>();

function acquire(library: string): InstanceType<typeof PKCS11> {
  const hit = loaded.get(library);
  if (hit) {
    hit.refs++;
    return hit.mod;
  }
  const mod = new PKCS11();
  try {
    mod.load(library);
    mod.C_Initialize();
  } catch (cause) {
    throw new CustosError('PKCS11_LOAD_FAILED', 'cannot load/initialise the PKCS#11 module', {
      cause,
      details: { library },
    });
  }
  loaded.set(library, { mod, refs: 1 });
  return mod;
}

function release(library: string): void {
  const hit = loaded.get(library);
  if (!hit) return;
  if (--hit.refs > 0) return;
  loaded.delete(library);
  try {
    hit.mod.C_Finalize();
  } catch {
    /* already finalised */
  }
}

/** Opens a logged-in read/write session on the token with the given label. */
export function openPkcs11Session(o: Pkcs11Options): Pkcs11Session {
  const mod = acquire(o.library);
  let session: Handle | undefined;
  try {
    const slot = mod.C_GetSlotList(true).find((s) => mod.C_GetTokenInfo(s).label.trim() === o.tokenLabel);
    if (!slot)
      throw new CustosError('PKCS11_TOKEN_NOT_FOUND', 'no token with that label', {
        details: { tokenLabel: o.tokenLabel },
      });
    session = mod.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      mod.C_Login(session, pkcs11js.CKU_USER, o.pin);
    } catch (cause) {
      // CKR_USER_ALREADY_LOGGED_IN: login state is per token per application; fine.
      if (!(cause instanceof pkcs11js.Pkcs11Error && cause.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN))
        throw new CustosError('PKCS11_LOGIN_FAILED', 'token login failed (PIN?)', { cause });
    }
    const s = session;
    return {
      mod,
      session: s,
      close() {
        try {
          mod.C_CloseSession(s);
        } finally {
          release(o.library);
        }
      },
    };
  } catch (e) {
    if (session) mod.C_CloseSession(session);
    release(o.library);
    throw e;
  }
}

export function findObject(s: Pkcs11Session, cls: number, label: string): Handle | undefined {
  s.mod.C_FindObjectsInit(s.session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    const found = s.mod.C_FindObjects(s.session, 2);
    if (found.length > 1)
      // Two keys under one label: which one signs is ambiguous — refuse.
      throw new CustosError('PKCS11_AMBIGUOUS_KEY', 'several keys share this label', { details: { label } });
    return found[0];
  } finally {
    s.mod.C_FindObjectsFinal(s.session);
  }
}

/** Reads CKA_EC_POINT (a DER OCTET STRING around the SEC 1 point) and returns the compressed key. */
function readPublicKey(s: Pkcs11Session, pub: Handle): Uint8Array {
  const [attr] = s.mod.C_GetAttributeValue(s.session, pub, [{ type: pkcs11js.CKA_EC_POINT }]);
  const v = attr?.value;
  if (!(v instanceof Buffer)) throw new CustosError('PKCS11_NO_EC_POINT', 'public key has no CKA_EC_POINT');
  // PKCS#11 v2.40 §2.3.3: DER OCTET STRING (04 41 <65 bytes>); some modules return the raw point.
  const raw = v.length === 67 && v[0] === 0x04 && v[1] === 0x41 ? v.subarray(2) : v;
  return secp256k1.Point.fromBytes(raw).toBytes(true);
}

export interface Pkcs11KeyOptions extends Pkcs11Options {
  /** CKA_LABEL of the key pair. */
  keyLabel: string;
}

/** Generates a non-extractable secp256k1 key pair inside the token; returns the public key only. */
export function generatePkcs11Key(o: Pkcs11KeyOptions): { keyId: string; publicKey: string } {
  const s = openPkcs11Session(o);
  try {
    if (findObject(s, pkcs11js.CKO_PRIVATE_KEY, o.keyLabel))
      throw new CustosError('PKCS11_KEY_EXISTS', 'a key with this label already exists', {
        details: { keyLabel: o.keyLabel },
      });
    const id = randomBytes(16);
    const { publicKey } = s.mod.C_GenerateKeyPair(
      s.session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: SECP256K1_EC_PARAMS },
        { type: pkcs11js.CKA_LABEL, value: o.keyLabel },
        { type: pkcs11js.CKA_ID, value: id },
      ],
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        // The point of the HSM: the scalar can be used, never read or wrapped out.
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_LABEL, value: o.keyLabel },
        { type: pkcs11js.CKA_ID, value: id },
      ],
    );
    return { keyId: o.keyLabel, publicKey: bytesToHex(readPublicKey(s, publicKey)) };
  } finally {
    s.close();
  }
}

/**
 * Opens a signer on an existing token key. Refuses a private key that is extractable or not
 * sensitive: a key that could have been copied out gives none of the guarantees above.
 */
export function openPkcs11Signer(o: Pkcs11KeyOptions): Secp256k1Signer {
  const s = openPkcs11Session(o);
  let open = true;
  let priv: Handle;
  let pubKey: Uint8Array;
  try {
    const p = findObject(s, pkcs11js.CKO_PRIVATE_KEY, o.keyLabel);
    const pub = findObject(s, pkcs11js.CKO_PUBLIC_KEY, o.keyLabel);
    if (!p || !pub)
      throw new CustosError('PKCS11_KEY_NOT_FOUND', 'no EC key pair with this label on the token', {
        details: { keyLabel: o.keyLabel },
      });
    const attrs = s.mod.C_GetAttributeValue(s.session, p, [
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_EXTRACTABLE },
      { type: pkcs11js.CKA_EC_PARAMS },
    ]);
    const flag = (b: unknown) => b instanceof Buffer && b.length > 0 && b[0] !== 0;
    if (!flag(attrs[0]?.value) || flag(attrs[1]?.value))
      throw new CustosError('PKCS11_KEY_EXPORTABLE', 'refusing a key that is extractable or not sensitive', {
        details: { keyLabel: o.keyLabel },
      });
    if (!(attrs[2]?.value instanceof Buffer) || !attrs[2].value.equals(SECP256K1_EC_PARAMS))
      throw new CustosError('PKCS11_WRONG_CURVE', 'key is not on secp256k1', {
        details: { keyLabel: o.keyLabel },
      });
    priv = p;
    pubKey = readPublicKey(s, pub);
  } catch (e) {
    s.close();
    throw e;
  }
  const noPath = (path?: string) => {
    if (path !== undefined && path !== 'm')
      throw new CustosError('KEY_NOT_DERIVABLE', 'an HSM key cannot derive a path', {
        details: { keyId: o.keyLabel, path },
      });
  };
  return {
    backend: 'pkcs11',
    keyId: o.keyLabel,
    async publicKey(path) {
      noPath(path);
      return pubKey.slice();
    },
    async signDigest(digest, path): Promise<EcdsaSignature> {
      noPath(path);
      if (!open) throw new CustosError('KEY_CLOSED', 'signer was closed', { details: { keyId: o.keyLabel } });
      if (digest.length !== 32) throw new CustosError('BAD_DIGEST', 'digest must be 32 bytes');
      let rs: Buffer;
      try {
        s.mod.C_SignInit(s.session, { mechanism: pkcs11js.CKM_ECDSA }, priv);
        rs = s.mod.C_Sign(s.session, Buffer.from(digest), Buffer.alloc(64));
      } catch (cause) {
        throw new CustosError('PKCS11_SIGN_FAILED', 'the token refused to sign', { cause });
      }
      if (rs.length !== 64) throw new CustosError('PKCS11_SIGN_FAILED', 'unexpected signature length');
      const r = BigInt(`0x${rs.subarray(0, 32).toString('hex')}`);
      const sv = BigInt(`0x${rs.subarray(32).toString('hex')}`);
      return recoverySearch(digest, r, sv, pubKey);
    },
    async close() {
      if (!open) return;
      open = false;
      s.close();
    },
  };
}
