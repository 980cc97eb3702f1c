/**
 * Tests that need something outside npm (PostgreSQL server, SoftHSM, Chromium) call
 * `requirement(...)`. When the thing is absent the test is skipped with a loud message naming the
 * install command — unless CUSTOS_REQUIRE_ALL=1 (CI), where absence is a failure.
 */
export const REQUIRE_ALL = process.env.CUSTOS_REQUIRE_ALL === '1';

export function requirement(name: string, available: boolean, installHint: string): boolean {
  if (available) return true;
  const msg = `\n*** ${name} is not available: install it with \`${installHint}\` ***\n`;
  if (REQUIRE_ALL) throw new Error(`CUSTOS_REQUIRE_ALL=1 and ${name} is missing.${msg}`);
  process.stderr.write(`${msg}*** tests that need ${name} are SKIPPED ***\n`);
  return false;
}
