import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidInputError } from '../../core/errors/base.ts';
import { parseIntent } from '../../core/intent/index.ts';
import { parseEvalContext } from '../../core/policy/context.ts';
import { evaluate } from '../../core/policy/evaluate.ts';
import { lintPolicy } from '../../core/policy/lint.ts';
import { loadPolicy, type Policy } from '../../core/policy/load.ts';
import { policyJsonSchema } from '../../core/policy/schema.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { readJsonFile } from './intent.ts';

/** `policy test` exit codes: the decision is the result. */
export const POLICY_EXIT = { allow: 0, badInput: EXIT.badInput, approve: 3, block: 4 } as const;

function readPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('FILE_UNREADABLE', file, 'cannot read policy', { cause });
  }
  return loadPolicy(text, file);
}

export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('withdrawal policies');

  policy
    .command('lint <file>')
    .description(
      'schema and semantic checks (unreachable/shadowed rules, unreachable quorums); exit 1 on errors',
    )
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const p = readPolicy(file);
        const issues = lintPolicy(p);
        const errors = issues.filter((i) => i.severity === 'error').length;
        emit(o, { ok: errors === 0, digest: p.digest, issues }, () =>
          [
            ...issues.map((i) => `${i.severity.padEnd(7)} ${i.code.padEnd(22)} ${i.message}`),
            `${file}: ${errors} error(s), ${issues.length - errors} warning(s); digest ${p.digest}`,
          ].join('\n'),
        );
        ctx.exit(errors === 0 ? EXIT.ok : EXIT.failed);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  policy
    .command('test')
    .description(
      'evaluate an intent; prints the decision JSON; exit 0 allow, 3 approval needed, 4 blocked, 2 bad input',
    )
    .requiredOption('--policy <file>', 'policy YAML')
    .requiredOption('--intent <file>', 'intent JSON')
    .option(
      '--context <file>',
      'context JSON (now, requester, addressBook, ledger, balances, screening, assets, …)',
    )
    .action((opts: { policy: string; intent: string; context?: string }) => {
      const o = makeOutput(true);
      try {
        const p = readPolicy(opts.policy);
        const intent = parseIntent(readJsonFile(opts.intent, 'intent'));
        const context = parseEvalContext(opts.context ? readJsonFile(opts.context, 'context') : {}, intent);
        const d = evaluate(p, intent, context);
        o.out(JSON.stringify(d, null, 2));
        ctx.exit(POLICY_EXIT[d.decision]);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  policy
    .command('digest <file>')
    .description('print the policy digest (SHA-256 of the canonical normalised document)')
    .action((file: string) => {
      const o = makeOutput(false);
      try {
        o.out(readPolicy(file).digest);
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  policy
    .command('schema')
    .description('print the policy JSON Schema (what schemas/policy.schema.json contains)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
      ctx.exit(EXIT.ok);
    });
}
