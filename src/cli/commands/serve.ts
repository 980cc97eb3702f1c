import type { Command } from 'commander';
import { loadCoordinatorConfig } from '../../coordinator/config.ts';
import { startCoordinator } from '../../coordinator/serve.ts';
import { EXIT, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { closeOnSignal } from '../shutdown.ts';

/**
 * `custos serve --config custos.yaml`: runs the coordinator (API, workflow worker, governance)
 * until SIGINT/SIGTERM. The configuration is validated before anything starts; an error names
 * the key and the process exits 2.
 */
export function registerServeCommands(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the coordinator (HTTP API + workflow) from custos.yaml')
    .requiredOption('--config <file>', 'coordinator configuration (YAML)')
    .option('--port <port>', 'override listen.port')
    .action(async (opts: { config: string; port?: string }) => {
      const o = makeOutput(false);
      try {
        const cfg = loadCoordinatorConfig(opts.config);
        const port = opts.port === undefined ? undefined : Number(opts.port);
        const running = await startCoordinator(cfg, port === undefined ? {} : { port });
        await closeOnSignal(running);
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
