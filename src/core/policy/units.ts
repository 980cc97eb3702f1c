import { InvalidInputError } from '../errors/base.ts';
import type { AssetInfo } from './types.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `24h` → 86 400 000. Durations are validated by the schema; this refuses anything else. */
export function parseDuration(text: string, field = 'duration'): number {
  const m = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new InvalidInputError('INVALID_DURATION', field, `not a duration: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** An amount from a policy: either exact base units, or a decimal in a ticker resolved per asset. */
export type AmountSpec = { kind: 'base'; value: bigint } | { kind: 'unit'; decimal: string; symbol: string };

export function parseAmountSpec(text: string): AmountSpec {
  const space = text.indexOf(' ');
  if (space < 0) return { kind: 'base', value: BigInt(text) };
  return { kind: 'unit', decimal: text.slice(0, space), symbol: text.slice(space + 1).toUpperCase() };
}

/**
 * `"0.5"` with 8 decimals → 50 000 000n. More fractional digits than the asset has is an error
 * (rounding would move a threshold), reported by the caller as a finding.
 */
export function decimalToBaseUnits(decimal: string, decimals: number): bigint | undefined {
  const dot = decimal.indexOf('.');
  const whole = dot < 0 ? decimal : decimal.slice(0, dot);
  const frac = dot < 0 ? '' : decimal.slice(dot + 1);
  if (frac.length > decimals) return undefined;
  return BigInt(whole + frac.padEnd(decimals, '0'));
}

/**
 * Resolves an amount spec for one asset. Returns:
 *  - a bigint threshold,
 *  - 'other-asset' when the spec names another ticker (the condition then does not apply),
 *  - 'too-precise' when the decimal has more digits than the asset.
 */
export function resolveAmount(spec: AmountSpec, asset: AssetInfo): bigint | 'other-asset' | 'too-precise' {
  if (spec.kind === 'base') return spec.value;
  if (spec.symbol !== asset.symbol.toUpperCase()) return 'other-asset';
  return decimalToBaseUnits(spec.decimal, asset.decimals) ?? 'too-precise';
}

/** Percent (0–1000, up to 2 decimals honoured) → basis points, rounding toward the stricter side is the caller's job. */
export function percentToBasisPoints(p: number): bigint {
  return BigInt(Math.round(p * 100));
}
