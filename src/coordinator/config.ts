import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { configIssueField } from '../config/issue-field.ts';
import { postgresIdleTimeoutMs } from '../config/postgres-fields.ts';
import { InvalidInputError } from '../core/errors/base.ts';

/**
 * `custos.yaml`, the coordinator's configuration, validated strictly at start: unknown keys,
 * duplicate keys and wrong types are refused with an error naming the key (`cosigners.1.url`).
 * Secrets (database URL, request key seed, relayer key, read tokens) are never inline: each is
 * `{ env: VAR }` or `{ file: path }`. The configuration that matters for security — principals,
 * policy, address book, wallets — is NOT here: it comes from the admin-signed trust bundle.
 */
const secret = z
  .object({ env: z.string().min(1).optional(), file: z.string().min(1).optional() })
  .strict()
  .refine((s) => (s.env === undefined) !== (s.file === undefined), 'give exactly one of env or file');
export type SecretRef = z.infer<typeof secret>;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** worker.lingerMs and worker.lingerMaxMs by default. */
const LINGER_DEFAULT_MS = 10;
const LINGER_MAX_DEFAULT_MS = 100;
const HEX32 = /^[0-9a-f]{64}$/;

export const coordinatorConfigSchema = z
  .object({
    version: z.literal(1),
    /**
     * What this process runs. `all` (default): API, workflow worker and watchtowers. A deployment
     * can split them over processes on one PostgreSQL: `api` serves the HTTP API only and announces
     * new work (LISTEN/NOTIFY); `workflow` runs the worker and the watchtowers (and still serves the
     * API). Any number of each: the queue's leases keep them from doing a step twice.
     */
    role: z.enum(['all', 'api', 'workflow']).default('all'),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8080 }),
    publicUrl: z.url().optional(),
    database: z
      .object({
        pgliteDir: z.string().min(1).optional(),
        postgres: z
          .object({
            url: secret,
            schema: z
              .string()
              .regex(/^[a-z_][a-z0-9_]{0,62}$/)
              .optional(),
            poolSize: z.number().int().min(1).max(200).optional(),
            idleTimeoutMs: postgresIdleTimeoutMs,
            /** Named prepared statements (default true); false behind PgBouncer in transaction mode. */
            prepare: z.boolean().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .refine(
        (d) => (d.pgliteDir === undefined) !== (d.postgres === undefined),
        'give exactly one of pgliteDir or postgres',
      ),
    /** Pinned genesis admin keys (the root the trust bundle chain is verified from). */
    genesis: z.union([
      z.object({ file: z.string().min(1) }).strict(),
      z
        .object({
          adminKeys: z.array(z.string().regex(HEX32, 'must be a 32-byte Ed25519 key in hex')).min(1).max(64),
          quorum: z.number().int().min(1).max(64),
          delayFloorMs: z.number().int().min(0).optional(),
        })
        .strict(),
    ]),
    /** Ed25519 key the coordinator signs co-signer requests with (seed: 32 bytes hex). */
    requestKey: z.object({ keyId: z.string().regex(ID), seed: secret }).strict(),
    cosigners: z
      .array(
        z
          .object({
            id: z.string().regex(ID),
            url: z.url(),
            timeoutMs: z.number().int().min(100).max(120_000).optional(),
          })
          .strict(),
      )
      .max(64)
      .default([]),
    /** wallet id → co-signers asked to sign for it (default: every co-signer). */
    routing: z.record(z.string().regex(ID), z.array(z.string().regex(ID)).min(1)).default({}),
    chains: z
      .object({
        evm: z
          .record(
            z.string().regex(/^eip155:[1-9][0-9]{0,31}$/, 'must be a CAIP-2 eip155 chain id'),
            z
              .object({
                rpc: z.url(),
                relayerKey: secret.optional(),
                /**
                 * Gas limit of a Safe execTransaction carrier: a fixed limit (default 500000, ~5.5×
                 * a measured ERC-20 withdrawal; too little only makes the carrier revert — Custos
                 * builds with safeTxGas 0, so the Safe nonce is not used up) or `estimate` (one
                 * eth_estimateGas per withdrawal: chains that charge L1 data as gas, tokens with
                 * unbounded transfer cost). docs/evm.md.
                 */
                safeExecGas: z
                  .union([z.literal('estimate'), z.number().int().min(21_000).max(30_000_000)])
                  .optional(),
                /** Send concurrent JSON-RPC calls as one batch request (off for nodes that refuse batches). */
                rpcBatch: z.boolean().default(true),
                /** How long the relayer's pending count and fee estimate are reused (ms). */
                sampleMs: z.number().int().min(0).max(60_000).default(1000),
                /** I7 watchtower over this chain's custody wallets (on by default). */
                watch: z
                  .object({
                    enabled: z.boolean().default(true),
                    pollMs: z.number().int().min(100).max(600_000).default(1000),
                    confirmations: z.number().int().min(0).max(1000).default(0),
                    sweepEvery: z.number().int().min(0).max(1_000_000).default(0),
                  })
                  .strict()
                  .default({ enabled: true, pollMs: 1000, confirmations: 0, sweepEvery: 0 }),
              })
              .strict(),
          )
          .default({}),
        /**
         * Bitcoin chain adapters: the coordinator's own Bitcoin Core node, whose watch-only
         * descriptor wallet lists the custody UTXOs (Esplora is not enough for building: it has no
         * wallet view). `credentials` is `user:password` — a cookie file works as `{ file }` as is.
         */
        bitcoin: z
          .record(
            z.string().regex(/^bip122:[0-9a-f]{32}$/, 'must be a CAIP-2 bip122 chain id'),
            z
              .object({
                node: z
                  .object({
                    kind: z.literal('core-rpc'),
                    url: z.url(),
                    credentials: secret,
                    /** Watch-only wallet name (/wallet/<name>). */
                    wallet: z.string().regex(ID).optional(),
                    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
                  })
                  .strict(),
                /** estimatesmartfee target in blocks. */
                feeTargetBlocks: z.number().int().min(1).max(1008).default(6),
                /** Highest address index scanned when mapping node UTXOs to the descriptor. */
                scanUpTo: z.number().int().min(1).max(100_000).default(200),
                /** Confirmations for spent UTXOs and for `confirmed`. */
                minConf: z.number().int().min(1).max(100).default(1),
                /** I7 watchtower over this chain's custody wallets (on by default). */
                watch: z
                  .object({
                    enabled: z.boolean().default(true),
                    pollMs: z.number().int().min(100).max(600_000).default(10_000),
                    /** First height scanned on a fresh database; default: the tip at start. */
                    startHeight: z.number().int().min(0).optional(),
                  })
                  .strict()
                  .default({ enabled: true, pollMs: 10_000 }),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .default({ evm: {}, bitcoin: {} }),
    api: z
      .object({
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(256 * 1024),
        rateLimit: z
          .object({
            perSecond: z.number().positive().max(100_000),
            burst: z.number().int().min(1).max(1_000_000),
          })
          .strict()
          .optional(),
        readTokens: z
          .array(z.object({ principal: z.string().regex(ID), token: secret }).strict())
          .max(1000)
          .default([]),
        webauthn: z
          .object({ rpId: z.string().min(1), origins: z.array(z.url()).min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .default({ bodyLimitBytes: 256 * 1024, readTokens: [] }),
    worker: z
      .object({
        enabled: z.boolean().default(true),
        pollMs: z.number().int().min(10).max(60_000).default(250),
        batch: z.number().int().min(1).max(1000).default(64),
        visibilityMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        /** How often a broadcast transaction is re-checked for confirmation. */
        confirmPollMs: z.number().int().min(10).max(600_000).default(2000),
        /** How long a lane woken by new work waits for more before it runs them as one batch. */
        lingerMs: z.number().int().min(0).max(1000).default(LINGER_DEFAULT_MS),
        /**
         * While a kind's work flows in small batches (under a quarter of `batch`), its lanes start
         * at most one batch per this many ms. Each batch costs a fixed number of statements,
         * co-signer requests and node calls whatever its size, so this trades at most this much
         * latency per step for less CPU per withdrawal at moderate rates; sparse work and full
         * batches are not delayed. Equal to lingerMs: off.
         */
        lingerMaxMs: z.number().int().min(0).max(1000).default(LINGER_MAX_DEFAULT_MS),
      })
      .strict()
      .default({
        enabled: true,
        pollMs: 250,
        batch: 64,
        visibilityMs: 60_000,
        confirmPollMs: 2000,
        lingerMs: LINGER_DEFAULT_MS,
        lingerMaxMs: LINGER_MAX_DEFAULT_MS,
      }),
    /**
     * Test-only fault injection for the multi-process tests, applied only to intents whose
     * `reference` matches: pause at a workflow point (to kill the process there), or rewrite the
     * destination of the built transaction (a compromised coordinator). Refused at start unless
     * CUSTOS_ALLOW_FAULT_INJECTION=1.
     */
    faultInjection: z
      .object({
        pause: z
          .object({
            reference: z.string().min(1),
            point: z.enum(['before-broadcast', 'after-broadcast']),
            ms: z.number().int().min(0).max(600_000),
          })
          .strict()
          .optional(),
        rewriteDestination: z
          .object({ reference: z.string().min(1), to: z.string().regex(/^0x[0-9a-fA-F]{40}$/) })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /**
     * Webhooks (watchtower alerts, governance events): endpoints receive the events they name
     * (`["*"]`: all), signed with HMAC-SHA256 under their secret (≥ 32 characters, never inline).
     * The configured list is authoritative: endpoints not listed are deactivated at start.
     */
    webhooks: z
      .object({
        endpoints: z
          .array(
            z
              .object({
                id: z.string().regex(ID),
                url: z.url({ protocol: /^https?$/ }),
                secret,
                events: z
                  .array(z.union([z.literal('*'), z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/)]))
                  .min(1)
                  .max(100)
                  .default(['*']),
              })
              .strict(),
          )
          .max(100)
          .refine((a) => new Set(a.map((e) => e.id)).size === a.length, 'endpoint ids must be unique'),
        pollMs: z.number().int().min(50).max(600_000).default(1000),
        timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
        maxAttempts: z.number().int().min(1).max(100).default(12),
      })
      .strict()
      .optional(),
    /** Refresh interval of the trust bundle view. */
    trustRefreshMs: z.number().int().min(100).max(3_600_000).default(2000),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type CoordinatorConfig = z.infer<typeof coordinatorConfigSchema> & { path: string };

export function parseCoordinatorConfig(text: string, path: string): CoordinatorConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(
      'CONFIG_INVALID',
      '(root)',
      `${path}: not valid YAML: ${doc.errors[0]!.message}`,
    );
  }
  const r = coordinatorConfigSchema.safeParse(doc.toJS());
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = configIssueField(issue);
    const msg = issue.code === 'unrecognized_keys' ? `unknown key ${field}` : `${field}: ${issue.message}`;
    throw new InvalidInputError('CONFIG_INVALID', field, `${path}: ${msg}`, { details: { file: path } });
  }
  return { ...r.data, path: resolve(path) };
}

export function loadCoordinatorConfig(path: string): CoordinatorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new InvalidInputError('CONFIG_UNREADABLE', path, 'cannot read the configuration file', { cause });
  }
  return parseCoordinatorConfig(text, path);
}

/** Paths in the config are relative to the config file. */
export function configPath(cfg: CoordinatorConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(cfg.path), p);
}

/** Reads a secret from its environment variable or file (first line); the error names the key. */
export function readSecretRef(
  cfg: CoordinatorConfig,
  ref: SecretRef,
  key: string,
  env = process.env,
): string {
  if (ref.file !== undefined) {
    try {
      return readFileSync(configPath(cfg, ref.file), 'utf8').split('\n')[0]!.trim();
    } catch (cause) {
      throw new InvalidInputError('SECRET_UNREADABLE', key, `${key}: cannot read secret file ${ref.file}`, {
        cause,
      });
    }
  }
  const v = env[ref.env!];
  if (!v)
    throw new InvalidInputError('SECRET_MISSING', key, `${key}: environment variable ${ref.env} is not set`);
  return v;
}
