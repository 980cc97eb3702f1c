import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runLocal } from '../../coordinator/local/up.ts';
import { EXIT, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

/**
 * `custos up`: a complete local deployment on embedded defaults — anvil with a 2-of-3 Safe and a
 * test ERC-20, two co-signer processes, the coordinator (PGlite under the data directory, or
 * PostgreSQL with --database-url), trust bundle 1 with a demo policy, principals and address
 * book — then prints the URLs and demo credentials and runs until Ctrl-C. Every run starts fresh.
 */
export function registerUpCommands(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description(
      'start a complete local deployment (anvil + Safe, two co-signers, coordinator) with demo data',
    )
    .option('--dir <dir>', 'data directory (wiped and recreated)', '.custos/local')
    .option(
      '--database-url <url>',
      'coordinator and co-signers on PostgreSQL (own schemas) instead of PGlite',
    )
    .option('--json', 'print the deployment description as JSON')
    .action(async (opts: { dir: string; databaseUrl?: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const dir = resolve(opts.dir);
        const dep = await runLocal({
          dir,
          fresh: true,
          ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
          onStep: (m) => o.err(`… ${m}`),
        });
        const s = dep.setup;
        if (o.json) {
          o.out(JSON.stringify({ ok: true, ...s, requestKey: undefined, admin: undefined }, null, 2));
        } else {
          o.out(
            [
              '',
              'Custos is up (local demo deployment — demo keys, do not use for real funds).',
              '',
              `  coordinator API   ${s.coordinatorUrl}        (OpenAPI: /openapi.json, docs: /docs, metrics: /metrics)`,
              ...s.cosigners.map((c) => `  ${c.id.padEnd(17)} ${c.url}   owner ${c.address}`),
              `  anvil (${s.chain})  ${s.anvilRpc}`,
              `  Safe 2-of-3       ${s.safe}   (owners: the two co-signers + an offline recovery key)`,
              `  test ERC-20 (TT)  ${s.token}`,
              ...s.destinations.map((d) => `  address book      ${d.address}  ${d.label}`),
              '',
              'Demo credentials (all in ' + `${dir}/demo-credentials.json, mode 0600):`,
              `  read-only session token   Authorization: Bearer ${s.readToken}`,
              `  requester                 ${s.requester.principal} (Ed25519 key ${s.requester.credentialId})`,
              `  approvers                 ${s.approvers.map((a) => a.principal).join(', ')} (group operations)`,
              `  admin                     ${s.admin.principal} (genesis key; trust bundle 1 is executed)`,
              '',
              'Policy: < 1 DEVETH or < 1000 TT to the address book → allowed; < 100 DEVETH → one operator;',
              'larger → two operators and a 1-minute window; unknown or look-alike destinations → blocked.',
              '',
              'Try:',
              `  npx custos demo withdraw --dir ${opts.dir}              # submit, sign, broadcast, confirm`,
              `  npx custos demo withdraw --dir ${opts.dir} --amount 5000000000000000000 --approve`,
              `  npx custos demo attack --dir ${opts.dir}                # tampering scenarios, each refused`,
              '',
              'Not part of this deployment yet: the Bitcoin regtest wallet (PSBT flows) and the web console.',
              `Logs: ${dir}/coordinator.log, ${dir}/cosigner-a.log, ${dir}/cosigner-b.log. Ctrl-C stops everything.`,
            ].join('\n'),
          );
        }
        await new Promise<void>((res) => {
          const stop = () => res();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        o.err('stopping…');
        await dep.stop();
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
