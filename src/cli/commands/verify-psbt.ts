import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Finding, Inspection } from '../../core/chains/bitcoin/inspect.ts';
import { inspectPsbt } from '../../core/chains/bitcoin/inspect.ts';
import { decodePsbt, psbtFromBase64 } from '../../core/chains/bitcoin/psbt/decode.ts';
import { checkAgainstIntent, sortFindings } from '../../core/chains/bitcoin/verify.ts';
import { type BitcoinWallet, parseBitcoinWallet } from '../../core/chains/bitcoin/wallet.ts';
import { parseChainId } from '../../core/chains/caip.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { type Intent, parseIntent } from '../../core/intent/index.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { readJsonFile } from './intent.ts';

/**
 * `custos verify psbt --psbt <file|base64> --wallet <descriptor|wallet.json> [--intent intent.json]
 * [--network n] [--fee-rate-ceiling sat/vB] [--json]` — the offline second opinion on a Bitcoin
 * PSBT: who every output pays (the destination, our change on which path, or unknown), where
 * every input comes from, fee and fee rate, every finding and, with an intent, the verdict.
 * No network access. Exit 0 ok, 1 refused / findings, 2 bad input.
 */
const MAGIC = [0x70, 0x73, 0x62, 0x74, 0xff];

function readPsbtArg(arg: string): Uint8Array {
  if (existsSync(arg)) {
    const bytes = new Uint8Array(readFileSync(arg));
    if (MAGIC.every((m, i) => bytes[i] === m)) return bytes;
    return psbtFromBase64(new TextDecoder().decode(bytes));
  }
  return psbtFromBase64(arg);
}

function readWallet(arg: string, network: string | undefined, ceiling: number): BitcoinWallet {
  if (arg.endsWith('.json')) return parseBitcoinWallet(readJsonFile(arg, 'wallet config'), 'wallet');
  const desc = existsSync(arg) ? readFileSync(arg, 'utf8').trim() : arg;
  // Without --network or an intent: xpub keys mean mainnet, tpub keys a test network (tb1 addresses).
  const net = network ?? (desc.includes('xpub') ? 'mainnet' : 'testnet');
  return parseBitcoinWallet({ network: net, descriptor: desc, feeRateCeilingSatVb: ceiling }, 'wallet');
}

function humanReport(
  ins: Inspection,
  findings: Finding[],
  destination: number | undefined,
  intent?: Intent,
): string {
  const lines: string[] = [];
  lines.push(`PSBT v${ins.version}  txid ${ins.txid}  locktime ${ins.locktime}`);
  lines.push('inputs:');
  for (const i of ins.inputs) {
    const who = i.ours ? `ours ${i.ours.branch}/${i.ours.index}` : 'NOT OURS';
    const value = i.value === undefined ? 'amount UNPROVEN' : `${i.value} sat (${i.proof})`;
    lines.push(`  #${i.index} ${i.txid}:${i.vout}  ${value}  ${who}  seq ${i.sequence.toString(16)}`);
  }
  lines.push('outputs:');
  for (const o of ins.outputs) {
    const who =
      o.index === destination
        ? 'DESTINATION'
        : o.role === 'change'
          ? `our change ${o.change!.branch}/${o.change!.index}`
          : 'UNKNOWN';
    lines.push(`  #${o.index} ${o.address ?? `script ${o.script}`}  ${o.value} sat  ${who}`);
  }
  lines.push(
    ins.fee === undefined
      ? 'fee: unknown (input amounts unproven)'
      : `fee: ${ins.fee} sat  (${ins.feeRate!.toFixed(2)} sat/vB over ~${ins.vsize} vB)`,
  );
  if (findings.length === 0) lines.push('findings: none');
  else {
    lines.push('findings:');
    for (const f of findings) {
      const where =
        f.input !== undefined ? ` input #${f.input}` : f.output !== undefined ? ` output #${f.output}` : '';
      lines.push(`  ${f.code}${where}: ${f.message}`);
    }
  }
  if (intent)
    lines.push(
      `verdict: ${findings.length === 0 ? 'OK — matches the intent' : `REFUSED (${findings[0]!.code})`}`,
    );
  return lines.join('\n');
}

export function registerVerifyPsbtCommands(program: Command, ctx: CliContext): void {
  const verify =
    program.commands.find((c) => c.name() === 'verify') ??
    program.command('verify').description('offline verification');
  verify
    .command('psbt')
    .description('decode a Bitcoin PSBT and check it against a wallet descriptor (and an intent)')
    .requiredOption('--psbt <file|base64>', 'PSBT file (binary or base64) or base64 text')
    .requiredOption('--wallet <descriptor>', 'multipath descriptor with #checksum, or a wallet config .json')
    .option('--intent <file>', 'intent JSON to check the PSBT against')
    .option(
      '--network <name>',
      'mainnet | testnet | testnet4 | signet | regtest (default: from the intent or the key)',
    )
    .option('--fee-rate-ceiling <satvb>', 'refuse above this fee rate (sat/vB)', '1000')
    .option('--json', 'machine-readable output')
    .action(
      (opts: {
        psbt: string;
        wallet: string;
        intent?: string;
        network?: string;
        feeRateCeiling: string;
        json?: boolean;
      }) => {
        const o = makeOutput(Boolean(opts.json));
        try {
          const ceiling = Number(opts.feeRateCeiling);
          if (!(ceiling > 0))
            throw new InvalidInputError('INVALID_OPTION', 'fee-rate-ceiling', 'must be a positive number');
          const intent = opts.intent ? parseIntent(readJsonFile(opts.intent, 'intent')) : undefined;
          let network = opts.network;
          if (!network && intent) {
            const chain = parseChainId(intent.chain);
            if (chain.namespace === 'bip122') network = chain.network;
          }
          const wallet = readWallet(opts.wallet, network, ceiling);
          const bytes = readPsbtArg(opts.psbt);
          decodePsbt(bytes); // full-depth decode (every field), offline: speed does not matter here
          const ins = inspectPsbt(bytes, wallet);
          const extra = intent
            ? checkAgainstIntent(intent, ins, wallet, { feeRateCeilingSatVb: ceiling })
            : undefined;
          const findings = sortFindings([...ins.findings, ...(extra?.findings ?? [])]);
          const result = {
            ok: findings.length === 0,
            verdict: intent ? (findings.length === 0 ? 'ok' : 'refused') : undefined,
            code: findings[0]?.code,
            version: ins.version,
            txid: ins.txid,
            locktime: ins.locktime,
            inputs: ins.inputs.map((i) => ({
              index: i.index,
              outpoint: `${i.txid}:${i.vout}`,
              value: i.value?.toString() ?? null,
              proof: i.proof,
              sequence: i.sequence,
              ours: i.ours
                ? { branch: i.ours.branch, index: i.ours.index, address: i.ours.derived.address }
                : null,
            })),
            outputs: ins.outputs.map((x) => ({
              index: x.index,
              address: x.address ?? null,
              script: x.script,
              value: x.value.toString(),
              pays:
                x.index === extra?.destinationOutput
                  ? 'destination'
                  : x.role === 'change'
                    ? `change ${x.change!.branch}/${x.change!.index}`
                    : 'unknown',
            })),
            fee: ins.fee?.toString() ?? null,
            feeRateSatVb: ins.feeRate ?? null,
            vsize: ins.vsize,
            findings,
          };
          emit(o, result, () => humanReport(ins, findings, extra?.destinationOutput, intent));
          ctx.exit(findings.length === 0 ? EXIT.ok : EXIT.failed);
        } catch (e) {
          ctx.exit(reportError(o, e));
        }
      },
    );
}
