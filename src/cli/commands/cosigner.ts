import type { Command } from 'commander';
import { signerAddress } from '../../core/chains/evm/index.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { loadCosignerConfig, readSecret } from '../../cosigner/config.ts';
import { startCosigner } from '../../cosigner/daemon.ts';
import { generateFileKey, openFileSigner } from '../../keys/file.ts';
import { generatePkcs11Key, openPkcs11Signer, SOFTHSM_LIBRARY } from '../../keys/pkcs11.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { closeOnSignal } from '../shutdown.ts';

interface KeygenOpts {
  backend: string;
  json?: boolean;
  out?: string;
  label: string;
  type: string;
  passphraseEnv?: string;
  passphraseFile?: string;
  library: string;
  tokenLabel?: string;
  pinEnv?: string;
  pinFile?: string;
}

function secretSource(env: string | undefined, file: string | undefined, what: string) {
  if ((env === undefined) === (file === undefined))
    throw new InvalidInputError(
      'SECRET_MISSING',
      what,
      `give exactly one of --${what}-env or --${what}-file`,
    );
  return env !== undefined ? { env } : { file: file! };
}

/**
 * `custos cosigner --config cosigner.yaml` runs the co-signer daemon;
 * `custos cosigner keygen --backend file|pkcs11 …` creates a key and prints ONLY its public side
 * (compressed public key, EVM address, and the xpub for a BIP 32 seed). Secrets come from an
 * environment variable or a file, never from argv (visible in `ps`).
 */
export function registerCosignerCommands(program: Command, ctx: CliContext): void {
  const cos = program
    .command('cosigner')
    .description('run a co-signer daemon (`--config cosigner.yaml`) or create its key (`keygen`)')
    .option('--config <file>', 'co-signer configuration (YAML)')
    .action(async (opts: { config?: string }) => {
      const o = makeOutput(false);
      if (!opts.config) {
        o.err('error: --config <file> is required');
        ctx.exit(EXIT.badInput);
        return;
      }
      try {
        const running = await startCosigner(loadCosignerConfig(opts.config));
        await closeOnSignal(running);
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  cos
    .command('keygen')
    .description('create a co-signer key and print its public key / xpub only')
    .requiredOption('--backend <backend>', 'file | pkcs11')
    .option('--out <file>', 'file backend: keystore path to create (mode 0600, never overwritten)')
    .option('--label <label>', 'key label (keystore label / PKCS#11 CKA_LABEL)', 'cosigner')
    .option('--type <type>', 'file backend: secp256k1 | bip32-seed', 'secp256k1')
    .option('--passphrase-env <var>', 'file backend: env variable holding the passphrase')
    .option('--passphrase-file <file>', 'file backend: file holding the passphrase')
    .option('--library <so>', 'pkcs11 backend: module path', SOFTHSM_LIBRARY)
    .option('--token-label <label>', 'pkcs11 backend: token label')
    .option('--pin-env <var>', 'pkcs11 backend: env variable holding the user PIN')
    .option('--pin-file <file>', 'pkcs11 backend: file holding the user PIN')
    .option('--json', 'machine-readable output')
    .action(async (opts: KeygenOpts) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        let result: { backend: string; keyId: string; publicKey: string; evmAddress: string; xpub?: string };
        if (opts.backend === 'file') {
          if (!opts.out) throw new InvalidInputError('USAGE', 'out', '--out <file> is required');
          if (opts.type !== 'secp256k1' && opts.type !== 'bip32-seed')
            throw new InvalidInputError('USAGE', 'type', '--type must be secp256k1 or bip32-seed');
          const passphrase = readSecret(
            secretSource(opts.passphraseEnv, opts.passphraseFile, 'passphrase'),
            'passphrase',
          );
          const k = await generateFileKey({
            path: opts.out,
            passphrase,
            label: opts.label,
            keyType: opts.type,
          });
          const signer = await openFileSigner({ path: opts.out, passphrase });
          try {
            result = { backend: 'file', ...k, evmAddress: await signerAddress(signer) };
          } finally {
            await signer.close();
          }
        } else if (opts.backend === 'pkcs11') {
          if (!opts.tokenLabel)
            throw new InvalidInputError('USAGE', 'token-label', '--token-label is required');
          const pin = readSecret(secretSource(opts.pinEnv, opts.pinFile, 'pin'), 'pin');
          const base = { library: opts.library, tokenLabel: opts.tokenLabel, pin, keyLabel: opts.label };
          const k = generatePkcs11Key(base);
          const signer = openPkcs11Signer(base);
          try {
            result = { backend: 'pkcs11', ...k, evmAddress: await signerAddress(signer) };
          } finally {
            await signer.close();
          }
        } else {
          throw new InvalidInputError('USAGE', 'backend', '--backend must be file or pkcs11');
        }
        emit(o, { ok: true, ...result }, () =>
          [
            `backend     ${result.backend}`,
            `key id      ${result.keyId}`,
            `public key  ${result.publicKey}`,
            `evm address ${result.evmAddress}`,
            ...(result.xpub ? [`xpub        ${result.xpub}`] : []),
          ].join('\n'),
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
