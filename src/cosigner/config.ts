import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configIssueField } from '../config/issue-field.ts';
import { postgresIdleTimeoutMs } from '../config/postgres-fields.ts';
import { InvalidInputError } from '../core/errors/base.ts';

/**
 * `cosigner.yaml`, validated strictly at start; an error names the key. Secrets (keystore
 * passphrase, HSM PIN, database URL) come from an environment variable or a file, never inline.
 */
const secret = z
  .object({ env: z.string().min(1).optional(), file: z.string().min(1).optional() })
  .strict()
  .refine((s) => (s.env === undefined) !== (s.file === undefined), 'give exactly one of env or file');

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const cosignerConfigSchema = z
  .object({
    /** This co-signer's id: signed requests must name it as their audience. */
    id: z.string().regex(ID),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535),
        /** TLS (PEM files); without it, bind to loopback or a private link only. */
        tls: z.object({ certFile: z.string(), keyFile: z.string() }).strict().optional(),
      })
      .strict(),
    store: z
      .object({
        /** PGlite data directory (default store). */
        pgliteDir: z.string().optional(),
        /** or PostgreSQL: connection string from env/file, and a schema of its own. */
        postgres: z
          .object({
            url: secret,
            schema: z.string().optional(),
            idleTimeoutMs: postgresIdleTimeoutMs,
            /** Named prepared statements (default true); false behind PgBouncer in transaction mode. */
            prepare: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .refine(
        (s) => (s.pgliteDir === undefined) !== (s.postgres === undefined),
        'give exactly one of pgliteDir or postgres',
      ),
    key: z.discriminatedUnion('backend', [
      z
        .object({
          backend: z.literal('file'),
          path: z.string(),
          passphrase: secret,
          /** BIP 32 path for EVM signing when the keystore holds a seed. */
          evmPath: z.string().optional(),
        })
        .strict(),
      z
        .object({
          backend: z.literal('pkcs11'),
          library: z.string(),
          tokenLabel: z.string(),
          keyLabel: z.string(),
          pin: secret,
        })
        .strict(),
    ]),
    /** Pinned root of trust: the genesis admin keys and quorum (inline or a file). */
    genesis: z.union([z.object({ file: z.string() }).strict(), z.record(z.string(), z.unknown())]),
    bundle: z
      .object({
        /** Coordinator URL serving the bundle chain as JSON (GET), re-fetched every refreshSeconds. */
        url: z.url().optional(),
        /** or a file with the bundle chain (JSON array). */
        file: z.string().optional(),
        refreshSeconds: z.number().int().min(1).default(30),
      })
      .strict(),
    /** Coordinator keys allowed to call this co-signer (Ed25519, 32-byte hex). */
    requestKeys: z
      .array(
        z.object({ keyId: z.string().regex(ID), publicKey: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
      )
      .min(1),
    replayWindowMs: z.number().int().min(1000).max(300_000).default(30_000),
    /** The co-signer's OWN RPC endpoints, per CAIP-2 chain id. */
    chains: z
      .object({ evm: z.record(z.string(), z.url()).default({}) })
      .strict()
      .default({ evm: {} }),
    /**
     * Test-only fault injection (multi-process crash tests): pause at a point in the signing
     * transaction. Refused unless CUSTOS_ALLOW_FAULT_INJECTION=1.
     */
    faultInjection: z
      .object({ point: z.enum(['before-commit', 'after-commit']), pauseMs: z.number().int().min(0) })
      .strict()
      .optional(),
  })
  .strict();

export type CosignerConfig = z.infer<typeof cosignerConfigSchema>;

export function parseCosignerConfig(input: unknown, file = 'cosigner.yaml'): CosignerConfig {
  const r = cosignerConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = configIssueField(issue);
    throw new InvalidInputError('COSIGNER_CONFIG_INVALID', field, `${file}: ${field}: ${issue.message}`);
  }
  return r.data;
}

export function loadCosignerConfig(path: string): CosignerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('COSIGNER_CONFIG_UNREADABLE', path, 'cannot read config file', { cause });
  }
  return parseCosignerConfig(parseYaml(text, { uniqueKeys: true }), path);
}

export function readSecret(s: { env?: string; file?: string }, what: string): string {
  if (s.file) return readFileSync(s.file, 'utf8').split('\n')[0]!;
  const v = s.env ? process.env[s.env] : undefined;
  if (!v) throw new InvalidInputError('SECRET_MISSING', what, `environment variable ${s.env} is not set`);
  return v;
}
