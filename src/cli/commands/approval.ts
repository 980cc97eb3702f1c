import { existsSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Command } from 'commander';
import { approvalDigest, type Decision } from '../../core/approval/digest.ts';
import type { Approval } from '../../core/approval/signature.ts';
import { CustosError, InvalidInputError } from '../../core/errors/base.ts';
import { fingerprint, type Intent, intentDigest, parseIntent } from '../../core/intent/index.ts';
import { decryptKeystore, readKeystoreFile, readPassphrase } from '../../keys/keystore.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { readJsonFile } from './intent.ts';

function decisionOf(v: string | undefined): Decision {
  const d = v ?? 'approve';
  if (d !== 'approve' && d !== 'reject') {
    throw new InvalidInputError('USAGE', '--decision', 'decision must be approve or reject');
  }
  return d;
}

/**
 * Loads the intent to approve: from a file, or (with --coordinator) by id from the coordinator.
 * Either way the digest is recomputed here from the intent itself: the coordinator's own
 * `digest` field is compared, never trusted (T1/T2: a lying coordinator shows one thing and asks
 * to sign another).
 */
async function loadIntent(ref: string, coordinator: string | undefined): Promise<Intent> {
  if (existsSync(ref)) return parseIntent(readJsonFile(ref, 'intent'));
  if (!coordinator)
    throw new InvalidInputError(
      'FILE_UNREADABLE',
      ref,
      'no such intent file (give --coordinator to fetch by id)',
    );
  const body = (await getJson(`${coordinator.replace(/\/$/, '')}/v1/intents/${encodeURIComponent(ref)}`)) as {
    intent?: unknown;
    digest?: unknown;
  };
  const intent = parseIntent(body.intent);
  if (intent.id !== ref) throw new CustosError('COORDINATOR_MISMATCH', 'coordinator returned another intent');
  if (body.digest !== undefined && body.digest !== bytesToHex(intentDigest(intent))) {
    throw new CustosError(
      'COORDINATOR_MISMATCH',
      'coordinator digest differs from the digest of the intent it sent',
    );
  }
  return intent;
}

export function registerApprovalCommands(program: Command, ctx: CliContext): void {
  const approval = program.command('approval').description('approval digests');
  approval
    .command('digest <intent>')
    .description('print the approval digest (hex) an approver signs for this intent and decision')
    .option('--decision <decision>', 'approve or reject', 'approve')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { decision?: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const decision = decisionOf(opts.decision);
        const intent = parseIntent(readJsonFile(file, 'intent'));
        const d = intentDigest(intent);
        const result = {
          ok: true,
          decision,
          approvalDigest: bytesToHex(approvalDigest(d, decision)),
          intentDigest: bytesToHex(d),
          fingerprint: fingerprint(d),
        };
        emit(
          o,
          result,
          () =>
            `approval digest ${result.approvalDigest}\ndecision        ${decision}\nintent digest   ${result.intentDigest}\nfingerprint     ${result.fingerprint}`,
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  program
    .command('approve <intent>')
    .description(
      'sign an approval (or --decision reject) for an intent file or, with --coordinator, an intent id',
    )
    .requiredOption('--key <keystore>', 'Ed25519 keystore of the approver')
    .requiredOption('--principal <id>', 'approver principal id')
    .option('--credential <id>', 'credential id (default: the keystore label)')
    .option('--decision <decision>', 'approve or reject', 'approve')
    .option('--passphrase-env <var>', 'environment variable holding the passphrase', 'CUSTOS_PASSPHRASE')
    .option('--passphrase-file <file>', 'file whose first line is the passphrase')
    .option('--coordinator <url>', 'fetch the intent from and POST the approval to this coordinator')
    .option('--json', 'machine-readable output (the approval is always JSON)')
    .action(
      async (
        ref: string,
        opts: KeyOptions & {
          principal: string;
          credential?: string;
          decision?: string;
          coordinator?: string;
          json?: boolean;
        },
      ) => {
        const o = makeOutput(true);
        try {
          const decision = decisionOf(opts.decision);
          const intent = await loadIntent(ref, opts.coordinator);
          const d = intentDigest(intent);
          const signer = await unlockEd25519(opts);
          let approval: Approval;
          try {
            approval = {
              principal: opts.principal,
              credentialId: opts.credential ?? signer.label,
              type: 'ed25519',
              signature: signer.sign(approvalDigest(d, decision)),
              decision,
              intentDigest: bytesToHex(d),
            };
          } finally {
            signer.wipe();
          }
          process.stderr.write(`${decision} intent ${intent.id} fingerprint ${fingerprint(d)}\n`);
          if (opts.coordinator) {
            const url = `${opts.coordinator.replace(/\/$/, '')}/v1/intents/${encodeURIComponent(intent.id)}/approvals`;
            const res = await postJson(url, approval, bytesToHex(approvalDigest(d, decision)));
            emit(o, { ok: true, approval, coordinator: res }, () => '');
          } else {
            emit(o, approval, () => '');
          }
          ctx.exit(EXIT.ok);
        } catch (e) {
          ctx.exit(reportError(o, e));
        }
      },
    );
}

// ---- signing helpers shared by approve, propose and vote ----

/** Options every signing command takes: the keystore and where its passphrase comes from (never argv). */
export interface KeyOptions {
  key: string;
  passphraseEnv?: string;
  passphraseFile?: string;
}

export interface Ed25519Signer {
  publicKey: string;
  label: string;
  sign(digest: Uint8Array): string;
  wipe(): void;
}

/**
 * Unlocks an Ed25519 keystore for approvals and governance votes. The public key stored in clear
 * is authenticated by the keystore's AEAD; we also re-derive it from the secret, so a keystore
 * whose public key does not match its secret is refused before anything is signed.
 */
export async function unlockEd25519(opts: KeyOptions): Promise<Ed25519Signer> {
  const file = readKeystoreFile(opts.key);
  if (file.keyType !== 'ed25519') {
    throw new InvalidInputError('WRONG_KEY_TYPE', opts.key, 'approvals and votes need an Ed25519 keystore');
  }
  const passphrase = readPassphrase({
    env: opts.passphraseEnv ?? 'CUSTOS_PASSPHRASE',
    file: opts.passphraseFile,
  });
  const k = await decryptKeystore(file, passphrase);
  const pub = bytesToHex(ed25519.getPublicKey(k.secret));
  if (pub !== k.publicKey) {
    k.wipe();
    throw new CustosError('KEYSTORE_MISMATCH', 'keystore public key does not match its secret');
  }
  return {
    publicKey: pub,
    label: k.label,
    sign: (digest) => Buffer.from(ed25519.sign(digest, k.secret)).toString('base64url'),
    wipe: () => k.wipe(),
  };
}

/** POSTs JSON to the coordinator; returns the parsed response or throws a typed error. */
export async function postJson(url: string, body: unknown, idempotencyKey: string): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  if (!res.ok) {
    throw new CustosError('COORDINATOR_REFUSED', `coordinator answered HTTP ${res.status}`, {
      details: { url, response: parsed },
    });
  }
  return parsed;
}

export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok)
    throw new CustosError('COORDINATOR_REFUSED', `coordinator answered HTTP ${res.status}`, {
      details: { url },
    });
  return res.json();
}
