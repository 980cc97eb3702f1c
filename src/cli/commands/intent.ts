import { readFileSync } from 'node:fs';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Command } from 'commander';
import { parseStrictJson } from '../../core/encoding/strict-json.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { fingerprint, intentDigest, parseIntent } from '../../core/intent/index.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('FILE_UNREADABLE', file, `cannot read ${what}`, { cause });
  }
  return parseStrictJson(text, what);
}

export function registerIntentCommands(program: Command, ctx: CliContext): void {
  const intent = program.command('intent').description('withdrawal intents');
  intent
    .command('digest <file>')
    .description('print the intent digest (SHA-256, hex) and its human fingerprint')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const parsed = parseIntent(readJsonFile(file, 'intent'));
        const digest = intentDigest(parsed);
        const result = { ok: true, digest: bytesToHex(digest), fingerprint: fingerprint(digest) };
        emit(o, result, () => `digest      ${result.digest}\nfingerprint ${result.fingerprint}`);
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
