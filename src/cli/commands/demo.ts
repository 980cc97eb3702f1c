import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadSetup, runAttacks } from '../../coordinator/local/attack.ts';
import { ApiClient, demoBitcoinIntent, demoIntent } from '../../coordinator/local/client.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

/** `custos demo withdraw|attack` against a deployment started by `custos up`. */
export function registerDemoCommands(program: Command, ctx: CliContext): void {
  const demo = program.command('demo').description('demo actions against a `custos up` deployment');

  demo
    .command('withdraw')
    .description('submit a signed withdrawal intent and follow it to its final state')
    .option('--dir <dir>', 'the `custos up` data directory', '.custos/local')
    .option('--chain <chain>', 'evm (the Safe) or bitcoin (the regtest wallet btc-1)', 'evm')
    .option('--wallet <id>', 'wallet id (safe-1 … safe-N, btc-1); implies the chain')
    .option('--amount <base units>', 'amount in wei / sat (default 0.01 DEVETH / 0.01 RBTC)')
    .option('--destination <address>', 'destination (default: the first address-book entry)')
    .option('--approve', 'sign the approvals the policy asks for with the demo operators')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        dir: string;
        chain: string;
        wallet?: string;
        amount?: string;
        destination?: string;
        approve?: boolean;
        json?: boolean;
      }) => {
        const o = makeOutput(Boolean(opts.json));
        try {
          const s = loadSetup(resolve(opts.dir));
          const api = new ApiClient(s.coordinatorUrl, s.readToken);
          const bitcoin =
            opts.chain === 'bitcoin' || (opts.wallet !== undefined && opts.wallet === s.bitcoin?.wallet);
          if (!bitcoin && opts.chain !== 'evm') throw new Error(`--chain must be evm or bitcoin`);
          const over = {
            ...(opts.amount ? { amount: opts.amount } : {}),
            ...(opts.destination ? { destination: opts.destination } : {}),
            ...(opts.wallet ? { wallet: opts.wallet } : {}),
          };
          const intent = bitcoin ? demoBitcoinIntent(s, over) : demoIntent(s, over);
          const r = await api.submit(s, intent);
          if (r.status !== 201) {
            emit(o, r.json, () => `refused: ${r.json.code} ${r.json.title}`);
            ctx.exit(EXIT.failed);
            return;
          }
          if (!o.json) o.out(`submitted ${intent.id} (fingerprint ${r.json.fingerprint})`);
          let d = await api.waitFor(intent.id, ['pending_approval', 'confirmed']);
          if (d.state === 'pending_approval' && opts.approve) {
            const quorum = (d.decision as { quorum?: { quorum: number } }).quorum?.quorum ?? 1;
            for (const a of s.approvers.slice(0, quorum)) await api.approve(a, intent);
            d = await api.waitFor(intent.id, ['confirmed'], 180_000);
          }
          emit(o, d, () =>
            [
              `state       ${d.state}`,
              `decision    ${(d.decision as { decision?: string; rule?: string } | null)?.decision} (rule ${(d.decision as { rule?: string } | null)?.rule})`,
              ...(d.failure ? [`failure     ${JSON.stringify(d.failure)}`] : []),
              ...(d.broadcast
                ? [`${(bitcoin ? 'txid' : 'tx').padEnd(12)}${(d.broadcast as { txHash: string }).txHash}`]
                : []),
              `history     ${(d.history as { to: string }[]).map((h) => h.to).join(' → ')}`,
            ].join('\n'),
          );
          ctx.exit(d.state === 'confirmed' || d.state === 'pending_approval' ? EXIT.ok : EXIT.failed);
        } catch (e) {
          ctx.exit(reportError(o, e));
        }
      },
    );

  demo
    .command('attack')
    .description('replay tampering scenarios as a compromised coordinator; every co-signer must refuse each')
    .option('--dir <dir>', 'the `custos up` data directory', '.custos/local')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const results = await runAttacks(loadSetup(resolve(opts.dir)));
        // Refused by every co-signer, with the expected code where the scenario names one.
        const held = (r: (typeof results)[number]) =>
          r.outcomes.every((x) => x.refused && (r.expect === undefined || x.code === r.expect));
        const allRefused = results.every(held);
        emit(o, { ok: allRefused, results }, () =>
          [
            ...results.map(
              (r) =>
                `${held(r) ? 'REFUSED' : r.outcomes.some((x) => !x.refused) ? 'SIGNED!' : 'UNEXPECTED'}  ${r.scenario.padEnd(30)} ${r.outcomes
                  .map((x) => `${x.cosigner}: ${x.code}`)
                  .join(', ')}\n         ${r.description}`,
            ),
            allRefused
              ? '\nevery tampering attempt was refused by every co-signer'
              : '\nA CO-SIGNER SIGNED A TAMPERED REQUEST OR REFUSED IT WITH AN UNEXPECTED CODE',
          ].join('\n'),
        );
        ctx.exit(allRefused ? EXIT.ok : EXIT.failed);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
