import type { z } from 'zod';

/**
 * The dotted config key a zod issue is about, for error messages and the error's `field`. For an
 * unknown key (strict schemas refuse them, so a typo is not silently ignored) it names the key
 * itself, not its parent; an issue on the whole document is `(root)`.
 */
export function configIssueField(issue: z.core.$ZodIssue): string {
  return issue.code === 'unrecognized_keys'
    ? [...issue.path, issue.keys[0]].join('.')
    : issue.path.join('.') || '(root)';
}
