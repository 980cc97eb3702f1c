import { HDKey } from '@scure/bip32';
import type { BitcoinNetworkName } from '../../caip.ts';
import { BitcoinInputError } from '../errors.ts';
import { descriptorChecksum } from './checksum.ts';

/**
 * Strict parser for the output descriptors Custos holds funds in (BIP 380–386, 389):
 *   wpkh(KEY)                         hot wallet, single-sig P2WPKH (BIP 382)
 *   tr(KEY)                           key-path-only taproot single-sig (BIP 386, no script tree)
 *   wsh(sortedmulti(k,KEY,…))         P2WSH m-of-n (BIP 382/383)
 *   sh(wsh(sortedmulti(k,KEY,…)))     P2SH-P2WSH m-of-n — the shape DMM Bitcoin's wallet had
 * KEY = [fingerprint/origin/path]xpub/…/<0;1>/* (BIP 389 multipath) or …/0/* and …/1/* as two
 * descriptors. Everything else is refused rather than half-supported: private keys (a watch-only
 * wallet file must never carry them), unranged keys (address reuse), hardened steps after the xpub
 * (an xpub cannot derive them), a missing or wrong checksum, an xpub of another network.
 */
export type DescriptorKind = 'wpkh' | 'tr' | 'wsh-sortedmulti' | 'sh-wsh-sortedmulti';

export const HARDENED = 0x80000000;

export interface DescriptorKey {
  /** Master key fingerprint from the key origin (or the xpub's own fingerprint without origin). */
  fingerprint: number;
  /** Origin path from the master to the xpub (hardened indexes include 0x80000000). */
  originPath: number[];
  xpub: string;
  hd: HDKey;
  /** Unhardened steps after the xpub and before the final `*`, one entry per branch. */
  branchSteps: number[][];
}

export interface ParsedDescriptor {
  kind: DescriptorKind;
  /** m of m-of-n (1 for single-sig). */
  threshold: number;
  keys: DescriptorKey[];
  /** How many branches the keys carry: 1 for `/0/*`, 2 for BIP 389 `/<0;1>/*`. */
  branches: number;
  /** The descriptor body without checksum, as given. */
  body: string;
}

/** BIP 32 serialization versions: mainnet xpub/xprv and the test networks' tpub/tprv. */
const VERSIONS = {
  main: { public: 0x0488b21e, private: 0x0488ade4 },
  test: { public: 0x043587cf, private: 0x04358394 },
} as const;

export function bip32Versions(network: BitcoinNetworkName) {
  return network === 'mainnet' ? VERSIONS.main : VERSIONS.test;
}

function err(code: string, message: string, details: Record<string, unknown> = {}): BitcoinInputError {
  return new BitcoinInputError(code, message, { details });
}

/** Parses a path step: a decimal index < 2^31, with `h` or `'` for hardened. */
function parseStep(step: string, allowHardened: boolean, ctx: string): number {
  const m = /^(0|[1-9][0-9]{0,9})(['h])?$/.exec(step);
  if (!m) throw err('DESCRIPTOR_INVALID', `bad derivation step "${step}"`, { at: ctx });
  const n = Number(m[1]);
  if (n >= HARDENED) throw err('DESCRIPTOR_INVALID', `derivation index ${n} out of range`, { at: ctx });
  if (m[2]) {
    if (!allowHardened)
      throw err('DESCRIPTOR_HARDENED_AFTER_XPUB', 'an xpub cannot derive a hardened step', { at: ctx });
    return n + HARDENED;
  }
  return n;
}

function parseKey(text: string, network: BitcoinNetworkName): DescriptorKey {
  let rest = text;
  let fingerprint: number | undefined;
  let originPath: number[] = [];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw err('DESCRIPTOR_INVALID', 'unterminated key origin', { key: text });
    const parts = rest.slice(1, close).split('/');
    if (!/^[0-9a-f]{8}$/.test(parts[0]!))
      throw err('DESCRIPTOR_INVALID', 'key origin fingerprint must be 8 lowercase hex digits', { key: text });
    fingerprint = Number.parseInt(parts[0]!, 16);
    originPath = parts.slice(1).map((s) => parseStep(s, true, text));
    rest = rest.slice(close + 1);
  }
  const segments = rest.split('/');
  const encoded = segments[0]!;
  if (/^[xt]prv/.test(encoded))
    throw err('DESCRIPTOR_PRIVATE_KEY', 'descriptor carries a private key; give the xpub', {});
  let hd: HDKey;
  try {
    hd = HDKey.fromExtendedKey(encoded, bip32Versions(network));
  } catch (cause) {
    throw new BitcoinInputError('DESCRIPTOR_KEY_INVALID', `not a valid ${network} extended public key`, {
      cause,
      details: { key: encoded.slice(0, 12) },
    });
  }
  if (hd.privateKey) throw err('DESCRIPTOR_PRIVATE_KEY', 'descriptor carries a private key', {});
  // BIP 380: an origin must not be shorter than the key's depth would allow; a key without origin
  // is its own master (depth 0) — we still accept an account xpub and use its own fingerprint.
  if (fingerprint !== undefined && originPath.length !== hd.depth)
    throw err('DESCRIPTOR_ORIGIN_MISMATCH', 'key origin path length differs from the xpub depth', {
      key: text.slice(0, 24),
      originLength: originPath.length,
      depth: hd.depth,
    });
  const steps = segments.slice(1);
  if (steps.length === 0 || steps[steps.length - 1] !== '*') {
    if (steps[steps.length - 1] === "*'" || steps[steps.length - 1] === '*h')
      throw err('DESCRIPTOR_HARDENED_AFTER_XPUB', 'hardened wildcard cannot be derived from an xpub', {});
    throw err('DESCRIPTOR_NOT_RANGED', 'every key must end in /* (one address per payment)', {
      key: text.slice(0, 24),
    });
  }
  let branchSteps: number[][] = [[]];
  let multipathSeen = false;
  for (const s of steps.slice(0, -1)) {
    const mp = /^<(.+)>$/.exec(s);
    if (mp) {
      // BIP 389: at most one multipath group per key, at least two distinct indexes.
      if (multipathSeen) throw err('DESCRIPTOR_INVALID', 'more than one multipath group in a key', {});
      multipathSeen = true;
      const alts = mp[1]!.split(';').map((a) => parseStep(a, false, text));
      if (alts.length < 2 || new Set(alts).size !== alts.length)
        throw err('DESCRIPTOR_INVALID', 'multipath needs two or more distinct indexes', {});
      branchSteps = alts.map((a) => [...branchSteps[0]!, a]);
    } else {
      const n = parseStep(s, false, text);
      branchSteps = branchSteps.map((b) => [...b, n]);
    }
  }
  return {
    fingerprint: fingerprint ?? hd.fingerprint,
    originPath,
    xpub: encoded,
    hd,
    branchSteps,
  };
}

/** Splits `a,b,c` at top-level commas (key origins contain no commas or parentheses). */
function splitArgs(s: string): string[] {
  return s.split(',');
}

/**
 * Parses and checks a descriptor for `network`. The checksum is required: a descriptor moved
 * between machines without it could carry an undetected typo in an xpub.
 */
export function parseDescriptor(text: string, network: BitcoinNetworkName): ParsedDescriptor {
  const hash = text.indexOf('#');
  if (hash < 0) throw err('DESCRIPTOR_CHECKSUM_MISSING', 'descriptor has no #checksum (BIP 380)', {});
  const body = text.slice(0, hash);
  const given = text.slice(hash + 1);
  const expected = descriptorChecksum(body);
  if (expected === undefined) throw err('DESCRIPTOR_INVALID', 'character outside the descriptor set', {});
  if (given !== expected)
    throw err('DESCRIPTOR_CHECKSUM_MISMATCH', 'descriptor checksum does not match', { given, expected });

  const SHAPES: [DescriptorKind, RegExp][] = [
    ['wpkh', /^wpkh\(([^()]+)\)$/],
    ['tr', /^tr\(([^(),]+)\)$/],
    ['wsh-sortedmulti', /^wsh\(sortedmulti\(([^()]+)\)\)$/],
    ['sh-wsh-sortedmulti', /^sh\(wsh\(sortedmulti\(([^()]+)\)\)\)$/],
  ];
  const shape = SHAPES.map(([k, re]) => [k, re.exec(body)] as const).find(([, m]) => m !== null);
  if (!shape)
    throw err(
      'DESCRIPTOR_UNSUPPORTED',
      'supported: wpkh(KEY), tr(KEY), wsh(sortedmulti(k,…)), sh(wsh(sortedmulti(k,…)))',
      { descriptor: body.slice(0, 40) },
    );
  const kind = shape[0];
  const inner = shape[1]![1]!;
  let threshold = 1;
  let keyTexts: string[];
  if (kind === 'wpkh' || kind === 'tr') {
    keyTexts = [inner];
  } else {
    const args = splitArgs(inner);
    if (!/^[1-9][0-9]?$/.test(args[0]!)) throw err('DESCRIPTOR_INVALID', 'bad multisig threshold', {});
    threshold = Number(args[0]);
    keyTexts = args.slice(1);
    // BIP 383 / consensus: P2WSH CHECKMULTISIG allows at most 20 keys; k in 1..n.
    if (keyTexts.length < 1 || keyTexts.length > 20 || threshold > keyTexts.length)
      throw err('DESCRIPTOR_INVALID', 'multisig needs 1 ≤ k ≤ n ≤ 20', { k: threshold, n: keyTexts.length });
  }
  const keys = keyTexts.map((k) => parseKey(k, network));
  const branches = keys[0]!.branchSteps.length;
  // BIP 389: every multipath key in one descriptor must have the same number of paths.
  if (keys.some((k) => k.branchSteps.length !== branches))
    throw err('DESCRIPTOR_INVALID', 'keys disagree on the number of multipath branches', {});
  const seen = new Set(keys.map((k) => k.xpub));
  if (seen.size !== keys.length) throw err('DESCRIPTOR_DUPLICATE_KEY', 'the same xpub appears twice', {});
  return { kind, threshold, keys, branches, body };
}
