import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE_NAME, DEFAULT_CONFIG_DIR, writeConfig } from '../../config/config.ts';
import { CustosError, InvalidInputError } from '../../core/errors/base.ts';
import { encryptKeystore, readPassphrase, writeKeystoreFile } from '../../keys/keystore.ts';
import { generateEd25519Seed } from '../../store/audit-signer.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';

interface InitOptions {
  dir: string;
  passphraseEnv?: string;
  passphraseFile?: string;
  databaseUrl?: string;
  checkpointEvery: string;
  json?: boolean;
}

/**
 * `custos init`: creates the node directory (0700) with a config file and the node's Ed25519 key in
 * an encrypted keystore (0600). The passphrase comes from an environment variable or a file, never
 * from argv (visible in `ps`). Refuses to overwrite an existing config or key.
 */
export function registerInitCommands(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('write a config file and generate the node key into an encrypted keystore')
    .option('--dir <dir>', 'node directory', DEFAULT_CONFIG_DIR)
    .option('--passphrase-env <VAR>', 'environment variable holding the keystore passphrase')
    .option('--passphrase-file <file>', 'file whose first line is the keystore passphrase')
    .option('--database-url <url>', 'use PostgreSQL at this URL instead of embedded PGlite')
    .option('--checkpoint-every <n>', 'sign an audit checkpoint every n entries', '1000')
    .option('--json', 'machine-readable output')
    .action(async (opts: InitOptions) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        if (opts.passphraseEnv && opts.passphraseFile) {
          throw new InvalidInputError(
            'USAGE',
            '--passphrase-env',
            'give --passphrase-env or --passphrase-file, not both',
          );
        }
        if (!opts.passphraseEnv && !opts.passphraseFile) {
          throw new InvalidInputError(
            'PASSPHRASE_MISSING',
            '--passphrase-env',
            'a passphrase source is required',
          );
        }
        const every = Number(opts.checkpointEvery);
        if (!/^\d+$/.test(opts.checkpointEvery) || every > 1_000_000) {
          throw new InvalidInputError('USAGE', '--checkpoint-every', 'must be an integer 0…1000000');
        }
        const passphrase = readPassphrase({ env: opts.passphraseEnv, file: opts.passphraseFile });
        const dir = resolve(opts.dir);
        const configPath = join(dir, CONFIG_FILE_NAME);
        const keystorePath = join(dir, 'node-key.json');
        for (const p of [configPath, keystorePath]) {
          if (existsSync(p))
            throw new CustosError('ALREADY_INITIALIZED', 'refusing to overwrite', { details: { path: p } });
        }
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const { seed, publicKey } = generateEd25519Seed();
        try {
          const file = await encryptKeystore(
            seed,
            { keyType: 'ed25519', label: 'custos node key', publicKey },
            passphrase,
          );
          writeKeystoreFile(keystorePath, file);
        } finally {
          seed.fill(0);
        }
        writeConfig(configPath, {
          custos: 1,
          dataDir: 'data',
          ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
          nodeKey: { keystore: 'node-key.json' },
          audit: { checkpointEvery: every, checkpointKeys: [publicKey] },
        });
        const result = { ok: true, config: configPath, keystore: keystorePath, nodeKey: publicKey };
        emit(o, result, () => `config   ${configPath}\nkeystore ${keystorePath}\nnode key ${publicKey}`);
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
