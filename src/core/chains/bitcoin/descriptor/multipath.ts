import { BitcoinInputError } from '../errors.ts';
import { withChecksum } from './checksum.ts';

/**
 * Splits a BIP 389 `/<0;1>/*` descriptor into its receive and change descriptors (with fresh
 * BIP 380 checksums), for tools that take one path per descriptor (Bitcoin Core's
 * importdescriptors with `internal`).
 */
export function splitMultipath(descriptor: string): [string, string] {
  const body = descriptor.includes('#') ? descriptor.slice(0, descriptor.indexOf('#')) : descriptor;
  const groups = [...body.matchAll(/<(\d+);(\d+)>/g)];
  if (groups.length === 0 || body.includes(';', 0) === false)
    throw new BitcoinInputError('DESCRIPTOR_NOT_MULTIPATH', 'descriptor has no <a;b> group');
  const pick = (k: 1 | 2) =>
    withChecksum(body.replace(/<(\d+);(\d+)>/g, (_m, a: string, b: string) => (k === 1 ? a : b)));
  return [pick(1), pick(2)];
}
