import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { BitcoinNodeAccess } from '../../coordinator/local/bitcoin.ts';
import { runLocal } from '../../coordinator/local/up.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { EXIT, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

/**
 * `custos up`: a complete local deployment on embedded defaults — anvil with a 2-of-3 Safe and a
 * test ERC-20, a 2-of-3 regtest Bitcoin wallet on the local regtest simulator, two co-signer processes, the coordinator (PGlite under the data directory, or
 * PostgreSQL with --database-url), trust bundle 1 with a demo policy, principals and address
 * book — then prints the URLs and demo credentials and runs until Ctrl-C. Every run starts fresh.
 */
export function registerUpCommands(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description(
      'start a complete local deployment (anvil + Safe, regtest Bitcoin wallet, two co-signers, coordinator) with demo data',
    )
    .option('--dir <dir>', 'data directory (wiped and recreated)', '.custos/local')
    .option(
      '--database-url <url>',
      'coordinator and co-signers on PostgreSQL (own schemas) instead of PGlite',
    )
    .option('--safes <n>', 'how many 2-of-3 Safes to deploy (safe-1 … safe-N)', '1')
    .option(
      '--bitcoin-rpc <url>',
      'a real bitcoind -regtest (wallets faucet, funded, and custody, watch-only) instead of the simulator',
    )
    .option('--bitcoin-rpc-credentials <file>', 'user:password (or the .cookie file) for --bitcoin-rpc')
    .option('--no-bitcoin', 'no Bitcoin wallet')
    .option(
      '--block-time <seconds>',
      'anvil mines a block every N seconds after set-up (0: a block per transaction)',
      '0',
    )
    .option('--json', 'print the deployment description as JSON')
    .action(
      async (opts: {
        dir: string;
        databaseUrl?: string;
        safes: string;
        bitcoin: boolean;
        bitcoinRpc?: string;
        bitcoinRpcCredentials?: string;
        blockTime: string;
        json?: boolean;
      }) => {
        const o = makeOutput(Boolean(opts.json));
        try {
          const dir = resolve(opts.dir);
          const safes = Number(opts.safes);
          if (!Number.isSafeInteger(safes) || safes < 1 || safes > 1000)
            throw new InvalidInputError('INVALID_OPTION', '--safes', '--safes must be 1 … 1000');
          const blockSeconds = Number(opts.blockTime);
          if (!Number.isSafeInteger(blockSeconds) || blockSeconds < 0 || blockSeconds > 60)
            throw new InvalidInputError(
              'INVALID_OPTION',
              '--block-time',
              '--block-time must be 0 … 60 seconds',
            );
          const dep = await runLocal({
            dir,
            fresh: true,
            safes,
            bitcoin: bitcoinNode(opts),
            blockSeconds,
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
                ...(s.safes.length > 1
                  ? [`  more Safes        safe-2 … safe-${s.safes.length} (same owners)`]
                  : []),
                `  test ERC-20 (TT)  ${s.token}`,
                ...s.destinations.map((d) => `  address book      ${d.address}  ${d.label}`),
                ...(s.bitcoin
                  ? [
                      `  Bitcoin regtest   ${s.bitcoin.node.url}   (${dep.bitcoinSim ? 'local chain SIMULATOR of Bitcoin Core RPC, not a node; in this process' : 'bitcoind'})`,
                      `  btc-1 2-of-3      sh(wsh(sortedmulti)): the two co-signers + an offline recovery key`,
                      `  btc-1 receive     ${s.bitcoin.receiveAddress}   (funded: 7 RBTC in 5 UTXOs)`,
                      ...s.bitcoin.destinations.map((d) => `  address book      ${d.address}  ${d.label}`),
                    ]
                  : []),
                '',
                'Demo credentials (all in ' + `${dir}/demo-credentials.json, mode 0600):`,
                `  read-only session token   Authorization: Bearer ${s.readToken}`,
                `  requester                 ${s.requester.principal} (Ed25519 key ${s.requester.credentialId})`,
                `  approvers                 ${s.approvers.map((a) => a.principal).join(', ')} (group operations)`,
                `  admin                     ${s.admin.principal} (genesis key; trust bundle 1 is executed)`,
                '',
                'Policy: < 1 DEVETH, < 1000 TT or < 0.1 RBTC to the address book → allowed; < 100 DEVETH,',
                '< 100000 TT or < 10 RBTC → one operator; larger → two operators and a 1-minute window;',
                'unknown or look-alike destinations → blocked.',
                '',
                'Try:',
                `  npx custos demo withdraw --dir ${opts.dir}              # submit, sign, broadcast, confirm`,
                `  npx custos demo withdraw --dir ${opts.dir} --amount 5000000000000000000 --approve`,
                ...(s.bitcoin
                  ? [
                      `  npx custos demo withdraw --dir ${opts.dir} --chain bitcoin   # PSBT: both co-signers sign, finalize, broadcast`,
                    ]
                  : []),
                `  npx custos demo attack --dir ${opts.dir}                # tampering scenarios, each refused`,
                '',
                'Not part of this deployment yet: the web console.',
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
      },
    );
}

/** The Bitcoin node option: the simulator (default), a real regtest node, or none. */
function bitcoinNode(opts: {
  bitcoin: boolean;
  bitcoinRpc?: string;
  bitcoinRpcCredentials?: string;
}): boolean | BitcoinNodeAccess {
  if (!opts.bitcoin) return false;
  if (!opts.bitcoinRpc) return true;
  if (!opts.bitcoinRpcCredentials)
    throw new InvalidInputError('INVALID_OPTION', '--bitcoin-rpc-credentials', 'needed with --bitcoin-rpc');
  const cred = readFileSync(opts.bitcoinRpcCredentials, 'utf8').split('\n')[0]!;
  const colon = cred.indexOf(':');
  if (colon <= 0)
    throw new InvalidInputError('INVALID_OPTION', '--bitcoin-rpc-credentials', 'must hold user:password');
  return { url: opts.bitcoinRpc, auth: { username: cred.slice(0, colon), password: cred.slice(colon + 1) } };
}
