import { existsSync, writeFileSync } from 'node:fs';
import { hexToBytes } from '@noble/hashes/utils.js';
import type { Command } from 'commander';
import { type Vote, voteDigest } from '../../core/approval/actions.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { proposalDigestHex } from '../../core/governance/digest.ts';
import { draftProposal } from '../../core/governance/proposal.ts';
import {
  type AdminSignature,
  type Genesis,
  type ProposalDocument,
  proposalDocumentSchema,
  type TrustBundle,
  trustBundleSchema,
} from '../../core/governance/types.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { type KeyOptions, postJson, unlockEd25519 } from './approval.ts';
import { readJsonFile } from './intent.ts';
import { loadConfig } from './principal.ts';

/** `1h`, `24h`, `7d`, `90m`, `30s` or plain milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,12})(ms|s|m|h|d)?$/.exec(s);
  if (!m) throw new InvalidInputError('USAGE', '--delay', 'duration like 24h, 7d, 90m or milliseconds');
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * unit;
}

function loadCurrent(file: string | undefined): TrustBundle | null {
  if (!file) return null;
  const raw = readJsonFile(file, 'trust bundle');
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  const r = trustBundleSchema.safeParse(last);
  if (!r.success) throw new InvalidInputError('BUNDLE_MALFORMED', file, r.error.issues[0]!.message);
  return r.data as unknown as TrustBundle;
}

async function adminSign(
  opts: KeyOptions & { principal: string; credential?: string },
  digest: string,
  vote: Vote,
): Promise<AdminSignature> {
  const signer = await unlockEd25519(opts);
  try {
    return {
      principal: opts.principal,
      credentialId: opts.credential ?? signer.label,
      publicKey: signer.publicKey,
      signature: signer.sign(voteDigest(hexToBytes(digest), vote)),
    };
  } finally {
    signer.wipe();
  }
}

const keyOpts = (c: Command) =>
  c
    .requiredOption('--key <keystore>', 'admin Ed25519 keystore')
    .requiredOption('--principal <id>', 'admin principal id (genesis:<pubkey hex> before bundle 1)')
    .option('--credential <id>', 'credential id (default: keystore label)')
    .option('--passphrase-env <var>', 'environment variable holding the passphrase', 'CUSTOS_PASSPHRASE')
    .option('--passphrase-file <file>', 'file whose first line is the passphrase')
    .option('--coordinator <url>', 'POST to this coordinator');

export function registerGovernanceCommands(program: Command, ctx: CliContext): void {
  keyOpts(
    program
      .command('propose')
      .description('draft and sign a proposal for the next trust bundle (your signature is the first vote)')
      .requiredOption('--config <file>', 'the complete new configuration')
      .option('--current <file>', 'the current bundle (or chain); omit only for bundle 1')
      .option('--genesis <file>', 'genesis JSON {adminKeys, quorum, delayFloorMs?} (bundle 1 only)')
      .option('--delay <duration>', 'delay before it takes effect (default 24h; never below the floor)')
      .option('--out <file>', 'write {proposal, digest, signature} here (never overwritten)'),
  ).action(
    async (
      opts: KeyOptions & {
        principal: string;
        credential?: string;
        config: string;
        current?: string;
        genesis?: string;
        delay?: string;
        out?: string;
        coordinator?: string;
      },
    ) => {
      const o = makeOutput(true);
      try {
        const current = loadCurrent(opts.current);
        const genesis = opts.genesis ? (readJsonFile(opts.genesis, 'genesis') as Genesis) : undefined;
        const proposal = draftProposal({
          current,
          genesis,
          config: loadConfig(opts.config),
          proposedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
          delayMs: opts.delay ? parseDuration(opts.delay) : undefined,
        });
        const digest = proposalDigestHex(proposal);
        const signature = await adminSign(opts, digest, 'approve');
        const result = { proposal, digest, signature };
        if (opts.out) writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`, { flag: 'wx' });
        const posted = opts.coordinator
          ? await postJson(
              `${opts.coordinator.replace(/\/$/, '')}/v1/proposals`,
              { document: proposal, signature },
              digest,
            )
          : undefined;
        emit(
          o,
          {
            ok: true,
            digest,
            version: proposal.version,
            effectiveAt: proposal.effectiveAt,
            signature,
            ...(posted ? { coordinator: posted } : {}),
          },
          () => '',
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    },
  );

  keyOpts(
    program
      .command('vote <proposal>')
      .description('sign an approve (default) or --cancel vote on a proposal file or digest')
      .option('--cancel', 'vote to cancel during the delay'),
  ).action(
    async (
      ref: string,
      opts: KeyOptions & { principal: string; credential?: string; cancel?: boolean; coordinator?: string },
    ) => {
      const o = makeOutput(true);
      try {
        let digest: string;
        if (existsSync(ref)) {
          // Recompute the digest from the document: sign what we can read, not a label.
          const raw = readJsonFile(ref, 'proposal') as { proposal?: unknown };
          const r = proposalDocumentSchema.safeParse(raw.proposal ?? raw);
          if (!r.success) throw new InvalidInputError('MALFORMED_PROPOSAL', ref, r.error.issues[0]!.message);
          digest = proposalDigestHex(r.data as unknown as ProposalDocument);
        } else if (/^[0-9a-f]{64}$/.test(ref)) {
          digest = ref;
        } else {
          throw new InvalidInputError('USAGE', 'proposal', 'give a proposal file or its 64-hex digest');
        }
        const vote: Vote = opts.cancel ? 'cancel' : 'approve';
        const signature = await adminSign(opts, digest, vote);
        const posted = opts.coordinator
          ? await postJson(
              `${opts.coordinator.replace(/\/$/, '')}/v1/proposals/${digest}/votes`,
              { vote, signature },
              `${digest}:${vote}:${signature.publicKey}`,
            )
          : undefined;
        emit(
          o,
          { ok: true, proposal: digest, vote, signature, ...(posted ? { coordinator: posted } : {}) },
          () => '',
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    },
  );
}
