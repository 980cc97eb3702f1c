import { closeSync, constants as fsc, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { CustosError, InvalidInputError } from '../core/errors/base.ts';
import { configIssueField } from './issue-field.ts';

/**
 * The node's configuration file (`custos init` writes it; every command reads it), YAML:
 *
 *   custos: 1
 *   dataDir: data                 # PGlite data directory (relative paths: from the config file)
 *   databaseUrl: postgres://…     # optional: use PostgreSQL instead of PGlite
 *   nodeKey:
 *     keystore: node-key.json     # encrypted Ed25519 node key (scrypt + AES-256-GCM, 0600)
 *   audit:
 *     checkpointEvery: 1000
 *     checkpointKeys: [<hex Ed25519 public key>, …]   # keys whose checkpoints verify accepts
 *
 * Parsed strictly: unknown keys, duplicate keys and wrong types are refused naming the field.
 */
export const DEFAULT_CONFIG_DIR = '.custos';
export const CONFIG_FILE_NAME = 'config.yaml';

const hexKey = z.string().regex(/^[0-9a-f]{64}$/, 'must be a 32-byte Ed25519 public key in lower-case hex');

export const configSchema = z
  .object({
    custos: z.literal(1),
    dataDir: z.string().min(1),
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    nodeKey: z.object({ keystore: z.string().min(1) }).strict(),
    audit: z
      .object({
        checkpointEvery: z.number().int().min(0).max(1_000_000),
        checkpointKeys: z.array(hexKey).min(1),
      })
      .strict(),
  })
  .strict();

export type CustosConfig = z.infer<typeof configSchema>;

/** A loaded config with every path made absolute (relative to the config file's directory). */
export interface LoadedConfig extends CustosConfig {
  path: string;
}

export function parseConfig(text: string, path: string): LoadedConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(
      'CONFIG_INVALID',
      path,
      `config is not valid YAML: ${doc.errors[0]!.message}`,
    );
  }
  const r = configSchema.safeParse(doc.toJS());
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = configIssueField(issue);
    throw new InvalidInputError('CONFIG_INVALID', field, `config ${field}: ${issue.message}`, {
      details: { file: path },
    });
  }
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...r.data,
    dataDir: abs(r.data.dataDir),
    nodeKey: { keystore: abs(r.data.nodeKey.keystore) },
    path: resolve(path),
  };
}

export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('CONFIG_UNREADABLE', path, 'cannot read config file (run `custos init`)', {
      cause,
    });
  }
  return parseConfig(text, path);
}

/** Writes a config file with mode 0600, refusing to overwrite an existing one. */
export function writeConfig(path: string, config: CustosConfig): void {
  configSchema.parse(config);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (cause) {
    throw new CustosError('CONFIG_EXISTS', 'refusing to overwrite an existing config file', {
      cause,
      details: { path },
    });
  }
  try {
    writeSync(fd, `# Custos node configuration (see docs/foundation.md)\n${stringify(config)}`);
  } finally {
    closeSync(fd);
  }
}
