import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE_NAME, DEFAULT_CONFIG_DIR, type LoadedConfig, loadConfig } from '../../config/config.ts';
import { type AuditVerifyResult, parseAuditExport, verifyAuditLog } from '../../core/audit/index.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { decryptKeystore, readKeystoreFile, readPassphrase } from '../../keys/keystore.ts';
import { AuditLog } from '../../store/audit.ts';
import { ed25519CheckpointSigner } from '../../store/audit-signer.ts';
import type { Db } from '../../store/db.ts';
import { openDb } from '../../store/open.ts';
import { EXIT, emit, makeOutput, type Output, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

const DEFAULT_CONFIG = join(DEFAULT_CONFIG_DIR, CONFIG_FILE_NAME);
const HEX_KEY = /^[0-9a-f]{64}$/;

const collect = (v: string, prev: string[]) => [...prev, v];
const systemClock = () => new Date().toISOString();

async function withLog<T>(
  config: LoadedConfig,
  fn: (log: AuditLog, db: Db) => Promise<T>,
  signer?: AuditLogSigner,
) {
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await fn(new AuditLog(db, { now: systemClock, signer }), db);
  } finally {
    await db.close();
  }
}
type AuditLogSigner = ReturnType<typeof ed25519CheckpointSigner>;

function report(o: Output, r: AuditVerifyResult, source: string): number {
  emit(o, { source, ...r }, () =>
    r.ok
      ? `ok: ${r.entries} entries, head ${r.head ? `${r.head.seq} ${r.head.hash}` : '(empty)'}, ` +
        `${r.checkpoints} checkpoints (last at ${r.lastCheckpointSeq ?? 'none'}), ${r.uncheckpointed} entries after the last checkpoint`
      : `FAILED at seq ${r.seq}: ${r.kind} (${r.code}): ${r.message}`,
  );
  return r.ok ? EXIT.ok : EXIT.failed;
}

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('tamper-evident audit log');

  audit
    .command('verify')
    .description('verify the audit log in the database, or offline from an export file')
    .option('--config <file>', 'config file', DEFAULT_CONFIG)
    .option('--file <f.ndjson>', 'verify an export file offline instead of the database')
    .option('--checkpoint-key <hex>', 'trusted checkpoint public key (repeatable)', collect, [])
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; file?: string; checkpointKey: string[]; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        for (const k of opts.checkpointKey) {
          if (!HEX_KEY.test(k)) {
            throw new InvalidInputError(
              'INVALID_KEY',
              '--checkpoint-key',
              'must be a 32-byte Ed25519 public key in hex',
            );
          }
        }
        if (opts.file) {
          // Offline: keys from the command line (and the config only when one was named explicitly).
          const explicitConfig = opts.config !== DEFAULT_CONFIG;
          const keys = [
            ...opts.checkpointKey,
            ...(explicitConfig ? loadConfig(opts.config).audit.checkpointKeys : []),
          ];
          if (keys.length === 0) {
            throw new InvalidInputError(
              'NO_CHECKPOINT_KEYS',
              '--checkpoint-key',
              'name the trusted checkpoint key(s)',
            );
          }
          let text: string;
          try {
            text = readFileSync(opts.file, 'utf8');
          } catch (cause) {
            throw new InvalidInputError('FILE_UNREADABLE', '--file', 'cannot read export file', { cause });
          }
          const { entries, checkpoints } = parseAuditExport(text);
          ctx.exit(report(o, verifyAuditLog(entries, checkpoints, keys), opts.file));
          return;
        }
        const config = loadConfig(opts.config);
        const keys = [...config.audit.checkpointKeys, ...opts.checkpointKey];
        const r = await withLog(config, (log) => log.verify({ trustedKeys: keys }));
        ctx.exit(report(o, r, config.databaseUrl ? 'postgres' : config.dataDir));
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  audit
    .command('export')
    .description('write the audit log and its checkpoints as NDJSON')
    .requiredOption('--out <f.ndjson>', 'output file (must not exist)')
    .option('--config <file>', 'config file', DEFAULT_CONFIG)
    .option('--json', 'machine-readable output')
    .action(async (opts: { out: string; config: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const config = loadConfig(opts.config);
        const r = await withLog(config, async (log) => {
          try {
            return await log.export(opts.out);
          } catch (cause) {
            if (
              (cause as NodeJS.ErrnoException).code === 'EEXIST' ||
              (cause as NodeJS.ErrnoException).code === 'ENOENT'
            ) {
              throw new InvalidInputError(
                'OUTPUT_UNWRITABLE',
                '--out',
                'output file exists or its directory does not',
                {
                  cause,
                },
              );
            }
            throw cause;
          }
        });
        emit(
          o,
          { ok: true, out: opts.out, ...r },
          () => `wrote ${r.entries} entries and ${r.checkpoints} checkpoints to ${opts.out}`,
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the current head with the node key now')
    .option('--config <file>', 'config file', DEFAULT_CONFIG)
    .option('--passphrase-env <VAR>', 'environment variable holding the keystore passphrase')
    .option('--passphrase-file <file>', 'file whose first line is the keystore passphrase')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: { config: string; passphraseEnv?: string; passphraseFile?: string; json?: boolean }) => {
        const o = makeOutput(Boolean(opts.json));
        try {
          const config = loadConfig(opts.config);
          const passphrase = readPassphrase({ env: opts.passphraseEnv, file: opts.passphraseFile });
          const key = await decryptKeystore(readKeystoreFile(config.nodeKey.keystore), passphrase);
          let signer: AuditLogSigner;
          try {
            signer = ed25519CheckpointSigner(key.secret);
          } finally {
            key.wipe();
          }
          const cp = await withLog(config, (log) => log.checkpoint(), signer);
          emit(o, { ok: true, checkpoint: cp }, () =>
            cp ? `checkpoint ${cp.seq} ${cp.hash}` : 'log is empty',
          );
          ctx.exit(EXIT.ok);
        } catch (e) {
          ctx.exit(reportError(o, e));
        }
      },
    );
}
