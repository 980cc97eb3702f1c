import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseChainId } from '../../core/chains/caip.ts';
import { describeCall } from '../../core/chains/evm/decode-call.ts';
import { type Finding, sortFindings } from '../../core/chains/evm/findings.ts';
import { computeSafeTxHashes, parseSafeVersion } from '../../core/chains/evm/safe-hash.ts';
import { safeTxFileSchema, safeTxFromJson, zodToInput } from '../../core/chains/evm/safe-tx-schema.ts';
import type { Address } from '../../core/chains/evm/types.ts';
import { inspectSafeTx, intentFindings } from '../../core/chains/evm/verify-safe.ts';
import { parseStrictJson } from '../../core/encoding/strict-json.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { fingerprint, intentDigest, parseIntent } from '../../core/intent/index.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('FILE_UNREADABLE', file, `cannot read ${what}`, { cause });
  }
  return parseStrictJson(text, what);
}

const json = (v: unknown) =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))) as unknown;

/**
 * `custos verify safe-tx --file tx.json [--intent intent.json] [--json]` — the offline second
 * device check (like safe-tx-hashes-util, with a verdict). No network: it recomputes the domain,
 * message and safeTxHash for the Safe's version, decodes the call, and lists every finding. With an
 * intent it also checks asset, destination, amount and chain against it. The hash it prints is
 * what a hardware wallet must show; if it differs, do not sign.
 * Exit 0 ok, 1 findings/refused, 2 bad input.
 */
export function registerVerifySafeCommands(program: Command, ctx: CliContext): void {
  const verify =
    program.commands.find((c) => c.name() === 'verify') ??
    program.command('verify').description('offline verification');
  verify
    .command('safe-tx')
    .description('recompute a Safe transaction hash offline, decode it and report every finding')
    .requiredOption('--file <tx.json>', 'chainId, safe, safeVersion and the ten SafeTx fields')
    .option('--intent <intent.json>', 'the signed withdrawal intent to compare against')
    .option('--json', 'machine-readable output')
    .action((opts: { file: string; intent?: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const parsed = safeTxFileSchema.safeParse(readJson(opts.file, 'Safe transaction'));
        if (!parsed.success) throw zodToInput(parsed.error, 'INVALID_SAFE_TX');
        const file = parsed.data;
        const version = parseSafeVersion(file.safeVersion);
        const tx = safeTxFromJson(file);
        const chainId = BigInt(file.chainId);
        const safe = file.safe as Address;
        const hashes = computeSafeTxHashes(version, chainId, safe, tx);
        const inspected = inspectSafeTx(safe, tx);
        const findings: Finding[] = [...inspected.findings];
        let intentInfo: { digest: string; fingerprint: string } | undefined;
        if (opts.intent) {
          const intent = parseIntent(readJson(opts.intent, 'intent'));
          const digest = intentDigest(intent);
          intentInfo = { digest: Buffer.from(digest).toString('hex'), fingerprint: fingerprint(digest) };
          const chain = parseChainId(intent.chain, 'chain');
          if (chain.namespace !== 'eip155' || chain.chainId !== chainId) {
            findings.push({
              code: 'CHAIN_MISMATCH',
              message: `intent is for ${intent.chain}, tx for eip155:${chainId}`,
            });
          }
          findings.push(
            ...intentFindings(intent, inspected.call, { get: (a) => ({ caip19: a, decimals: 0 }) }),
          );
        }
        const sorted = sortFindings(findings);
        const verdict = sorted.length === 0 ? 'ok' : 'refused';
        const result = {
          ok: sorted.length === 0,
          verdict,
          safe,
          chainId: file.chainId,
          safeVersion: version.text,
          domainHash: hashes.domainHash,
          messageHash: hashes.messageHash,
          safeTxHash: hashes.safeTxHash,
          call: json(inspected.call),
          description: describeCall(inspected.call),
          operation: tx.operation === 0 ? 'CALL' : 'DELEGATECALL',
          nonce: file.nonce,
          ...(intentInfo ? { intent: intentInfo } : {}),
          findings: sorted,
        };
        emit(o, result, () =>
          [
            `Safe          ${safe} (v${version.text}) on eip155:${file.chainId}, nonce ${file.nonce}`,
            `domain hash   ${hashes.domainHash}`,
            `message hash  ${hashes.messageHash}`,
            `safeTxHash    ${hashes.safeTxHash}`,
            `operation     ${result.operation}`,
            `call          ${result.description}`,
            ...(intentInfo ? [`intent        ${intentInfo.digest} (${intentInfo.fingerprint})`] : []),
            ...(sorted.length === 0
              ? ['findings      none']
              : sorted.map(
                  (f, i) => `${i === 0 ? 'findings     ' : '             '} ${f.code}: ${f.message}`,
                )),
            `verdict       ${verdict.toUpperCase()}`,
          ].join('\n'),
        );
        ctx.exit(sorted.length === 0 ? EXIT.ok : EXIT.failed);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
