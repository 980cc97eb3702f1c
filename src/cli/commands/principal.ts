import { writeFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Command } from 'commander';
import { CustosError, InvalidInputError } from '../../core/errors/base.ts';
import { type BundleConfig, bundleConfigSchema } from '../../core/governance/types.ts';
import { PrincipalSet } from '../../core/identity/principal-set.ts';
import {
  type Credential,
  credentialSchema,
  type Principal,
  ROLES,
  type Role,
} from '../../core/identity/types.ts';
import { encryptKeystore, readPassphrase, writeKeystoreFile } from '../../keys/keystore.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { readJsonFile } from './intent.ts';

/**
 * `custos principal add|rotate|revoke` edit a configuration *draft*: they read the current
 * configuration (a config file, a bundle, or a bundle chain) and write the changed configuration,
 * which then goes through `custos propose` — principals change only through governance (I4).
 * `custos principal keygen` creates an Ed25519 keystore for a CLI approver or admin.
 */
export function loadConfig(file: string): BundleConfig {
  let raw = readJsonFile(file, 'configuration') as Record<string, unknown> | unknown[];
  if (Array.isArray(raw)) raw = raw[raw.length - 1] as Record<string, unknown>;
  const candidate = raw && typeof raw === 'object' && 'config' in raw ? raw.config : raw;
  const r = bundleConfigSchema.safeParse(candidate);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InvalidInputError('INVALID_CONFIG', issue.path.join('/'), issue.message);
  }
  return r.data as unknown as BundleConfig;
}

function writeConfig(file: string, config: BundleConfig): void {
  new PrincipalSet(config.principals); // refuse writing a draft that would not verify
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`, { flag: 'wx' });
}

function nowIso(at?: string): string {
  return at ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

interface CredentialOptions {
  ed25519?: string;
  credentialId?: string;
  credential?: string;
  at?: string;
}

function newCredential(opts: CredentialOptions): Credential {
  if (opts.credential) {
    const r = credentialSchema.safeParse(readJsonFile(opts.credential, 'credential'));
    if (!r.success)
      throw new InvalidInputError('INVALID_CREDENTIAL', opts.credential, r.error.issues[0]!.message);
    return r.data;
  }
  if (!opts.ed25519 || !opts.credentialId) {
    throw new InvalidInputError(
      'USAGE',
      '--ed25519',
      'give --ed25519 <hex> --credential-id <id>, or --credential <file>',
    );
  }
  return {
    id: opts.credentialId,
    type: 'ed25519',
    publicKey: opts.ed25519,
    status: 'active',
    addedAt: nowIso(opts.at),
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerPrincipalCommands(program: Command, ctx: CliContext): void {
  const principal = program
    .command('principal')
    .description('principals and their credentials (config drafts for proposals)');
  const run = (fn: () => unknown) => {
    const o = makeOutput(true);
    try {
      emit(o, fn(), () => '');
      ctx.exit(EXIT.ok);
    } catch (e) {
      ctx.exit(reportError(o, e));
    }
  };

  principal
    .command('add')
    .description('add a principal to a configuration draft')
    .requiredOption('--config <file>', 'current configuration, bundle or bundle chain')
    .requiredOption('--out <file>', 'where to write the new configuration (never overwritten)')
    .requiredOption('--id <id>', 'principal id')
    .option('--kind <kind>', 'user or service', 'user')
    .option('--role <role>', 'requester, approver, admin or auditor (repeatable)', collect, [])
    .option('--group <group>', 'approver group (repeatable)', collect, [])
    .option('--ed25519 <hex>', 'Ed25519 public key (64 hex)')
    .option('--credential-id <id>', 'credential id for --ed25519')
    .option('--credential <file>', 'a credential JSON (e.g. a verified passkey registration)')
    .option('--at <time>', 'RFC 3339 time recorded as addedAt (default now)')
    .action(
      (
        opts: {
          config: string;
          out: string;
          id: string;
          kind: string;
          role: string[];
          group: string[];
        } & Record<string, string>,
      ) =>
        run(() => {
          const config = loadConfig(opts.config);
          if (config.principals.some((p) => p.id === opts.id)) {
            throw new CustosError('PRINCIPAL_EXISTS', 'principal already exists', {
              details: { id: opts.id },
            });
          }
          for (const r of opts.role) {
            if (!(ROLES as readonly string[]).includes(r))
              throw new InvalidInputError('USAGE', '--role', `unknown role ${r}`);
          }
          const p: Principal = {
            id: opts.id,
            kind: opts.kind === 'service' ? 'service' : 'user',
            roles: opts.role as Role[],
            groups: opts.group,
            status: 'active',
            credentials: [newCredential(opts as CredentialOptions)],
          };
          config.principals.push(p);
          writeConfig(opts.out, config);
          return { ok: true, added: p.id, out: opts.out };
        }),
    );

  principal
    .command('rotate')
    .description('add a new credential and revoke the old one, in a configuration draft')
    .requiredOption('--config <file>', 'current configuration, bundle or bundle chain')
    .requiredOption('--out <file>', 'where to write the new configuration')
    .requiredOption('--id <id>', 'principal id')
    .requiredOption('--old <credentialId>', 'credential to revoke')
    .option('--ed25519 <hex>', 'new Ed25519 public key')
    .option('--credential-id <id>', 'new credential id')
    .option('--credential <file>', 'new credential JSON')
    .option('--at <time>', 'RFC 3339 time (default now)')
    .action(
      (
        opts: { config: string; out: string; id: string; old: string; at?: string } & Record<string, string>,
      ) =>
        run(() => {
          const config = loadConfig(opts.config);
          const p = config.principals.find((x) => x.id === opts.id);
          const old = p?.credentials.find((c) => c.id === opts.old);
          if (!p || !old)
            throw new CustosError('UNKNOWN_CREDENTIAL', 'no such credential for this principal');
          if (old.status !== 'active')
            throw new CustosError('CREDENTIAL_REVOKED', 'credential already revoked');
          const next = newCredential(opts);
          old.status = 'revoked';
          old.revokedAt = nowIso(opts.at);
          p.credentials.push(next);
          writeConfig(opts.out, config);
          return { ok: true, principal: p.id, revoked: old.id, added: next.id, out: opts.out };
        }),
    );

  principal
    .command('revoke')
    .description('revoke a credential, or the whole principal, in a configuration draft')
    .requiredOption('--config <file>', 'current configuration, bundle or bundle chain')
    .requiredOption('--out <file>', 'where to write the new configuration')
    .requiredOption('--id <id>', 'principal id')
    .option('--credential <credentialId>', 'revoke only this credential')
    .option('--at <time>', 'RFC 3339 time (default now)')
    .action((opts: { config: string; out: string; id: string; credential?: string; at?: string }) =>
      run(() => {
        const config = loadConfig(opts.config);
        const p = config.principals.find((x) => x.id === opts.id);
        if (!p) throw new CustosError('UNKNOWN_PRINCIPAL', 'no such principal', { details: { id: opts.id } });
        const at = nowIso(opts.at);
        const targets = opts.credential
          ? p.credentials.filter((c) => c.id === opts.credential)
          : p.credentials;
        if (opts.credential && targets.length === 0)
          throw new CustosError('UNKNOWN_CREDENTIAL', 'no such credential');
        for (const c of targets) {
          if (c.status === 'active') {
            c.status = 'revoked';
            c.revokedAt = at;
          }
        }
        if (!opts.credential) p.status = 'revoked';
        writeConfig(opts.out, config);
        return { ok: true, principal: p.id, revoked: opts.credential ?? 'principal', out: opts.out };
      }),
    );

  principal
    .command('keygen')
    .description('create an Ed25519 keystore (0600) for a CLI approver or admin; prints the public key')
    .requiredOption('--out <file>', 'keystore file to create')
    .requiredOption('--label <credentialId>', 'credential id to register the key under')
    .option('--passphrase-env <var>', 'environment variable holding the passphrase', 'CUSTOS_PASSPHRASE')
    .option('--passphrase-file <file>', 'file whose first line is the passphrase')
    .option('--scrypt-n <n>', 'scrypt cost N (tests only; default 2^17)')
    .action(
      async (opts: {
        out: string;
        label: string;
        passphraseEnv: string;
        passphraseFile?: string;
        scryptN?: string;
      }) => {
        const o = makeOutput(true);
        try {
          const passphrase = readPassphrase({ env: opts.passphraseEnv, file: opts.passphraseFile });
          const seed = ed25519.utils.randomSecretKey();
          const publicKey = bytesToHex(ed25519.getPublicKey(seed));
          try {
            const params = opts.scryptN ? { N: Number(opts.scryptN), r: 8, p: 1 } : undefined;
            writeKeystoreFile(
              opts.out,
              await encryptKeystore(
                seed,
                { keyType: 'ed25519', label: opts.label, publicKey },
                passphrase,
                params,
              ),
            );
          } finally {
            seed.fill(0);
          }
          emit(o, { ok: true, credentialId: opts.label, publicKey, keystore: opts.out }, () => '');
          ctx.exit(EXIT.ok);
        } catch (e) {
          ctx.exit(reportError(o, e));
        }
      },
    );
}
