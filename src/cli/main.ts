import { Command, CommanderError } from 'commander';
import { registerApprovalCommands } from './commands/approval.ts';
import { registerAuditCommands } from './commands/audit.ts';
import { registerBundleCommands } from './commands/bundle.ts';
import { registerCosignerCommands } from './commands/cosigner.ts';
import { registerDemoCommands } from './commands/demo.ts';
import { registerGovernanceCommands } from './commands/governance.ts';
import { registerInitCommands } from './commands/init.ts';
import { registerIntentCommands } from './commands/intent.ts';
import { registerPolicyCommands } from './commands/policy.ts';
import { registerPrincipalCommands } from './commands/principal.ts';
import { registerServeCommands } from './commands/serve.ts';
import { registerUpCommands } from './commands/up.ts';
import { registerVerifyPsbtCommands } from './commands/verify-psbt.ts';
import { registerVerifySafeCommands } from './commands/verify-safe.ts';

/**
 * `custos` entry point. Each command group lives in `commands/<group>.ts` and registers itself
 * here; a command sets `process.exitCode`-style results by returning a number via `ctx.exit`.
 */
export interface CliContext {
  /** Set by a command to the exit code it wants (0 ok, 1 verification failed, 2 bad input). */
  exit(code: number): void;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const ctx: CliContext = {
    exit: (c) => {
      code = c;
    },
  };
  const program = new Command('custos')
    .description('Custos withdrawal firewall')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerIntentCommands(program, ctx);
  registerPolicyCommands(program, ctx);
  registerInitCommands(program, ctx);
  registerAuditCommands(program, ctx);
  registerCosignerCommands(program, ctx);
  registerApprovalCommands(program, ctx);
  registerPrincipalCommands(program, ctx);
  registerGovernanceCommands(program, ctx);
  registerBundleCommands(program, ctx);
  registerVerifySafeCommands(program, ctx);
  registerVerifyPsbtCommands(program, ctx);
  registerServeCommands(program, ctx);
  registerUpCommands(program, ctx);
  registerDemoCommands(program, ctx);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every usage error is 2.
      return e.exitCode === 0 ? 0 : 2;
    }
    throw e;
  }
  return code;
}
