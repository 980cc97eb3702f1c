import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE_NAME, DEFAULT_CONFIG_DIR, loadConfig as loadNodeConfig } from '../../config/config.ts';
import { InvalidInputError } from '../../core/errors/base.ts';
import { verifyBundleChain } from '../../core/governance/bundle.ts';
import { bundleDigest } from '../../core/governance/digest.ts';
import { assembleBundle } from '../../core/governance/proposal.ts';
import {
  type AdminSignature,
  adminSignatureSchema,
  type Genesis,
  type ProposalDocument,
  proposalDocumentSchema,
  type TrustBundle,
} from '../../core/governance/types.ts';
import { GovernanceService } from '../../store/governance/service.ts';
import { openDb } from '../../store/open.ts';
import { EXIT, emit, makeOutput, reportError } from '../io.ts';
import type { CliContext } from '../main.ts';
import { readJsonFile } from './intent.ts';

function readChain(file: string): unknown[] {
  const raw = readJsonFile(file, 'trust bundle') as unknown;
  if (Array.isArray(raw)) return raw;
  if (raw && typeof raw === 'object' && Array.isArray((raw as { bundles?: unknown }).bundles)) {
    return (raw as { bundles: unknown[] }).bundles;
  }
  return [raw];
}

/** Genesis from a JSON file {adminKeys, quorum, delayFloorMs?} or a comma-separated key list + --quorum. */
function readGenesis(spec: string, quorum: string | undefined): Genesis {
  if (existsSync(spec)) {
    const g = readJsonFile(spec, 'genesis') as Genesis;
    return quorum ? { ...g, quorum: Number(quorum) } : g;
  }
  const adminKeys = spec.split(',').map((s) => s.trim());
  if (!quorum) throw new InvalidInputError('USAGE', '--quorum', 'give --quorum with a key list');
  return { adminKeys, quorum: Number(quorum) };
}

export function registerBundleCommands(program: Command, ctx: CliContext): void {
  const bundle = program.command('bundle').description('admin-signed trust bundles');

  bundle
    .command('show <file>')
    .description('summarize a bundle (or the last bundle of a chain); does not verify — use `bundle verify`')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const chain = readChain(file) as TrustBundle[];
        const b = chain[chain.length - 1]!;
        const summary = {
          version: b.version,
          digest: bundleDigest(b),
          prevDigest: b.prevDigest,
          proposedAt: b.proposedAt,
          effectiveAt: b.effectiveAt,
          admin: b.config.admin,
          principals: b.config.principals.map((p) => ({
            id: p.id,
            roles: p.roles,
            groups: p.groups,
            status: p.status,
            activeCredentials: p.credentials.filter((c) => c.status === 'active').map((c) => c.id),
          })),
          wallets: b.config.wallets.map((w) => w.id),
          addressBookEntries: b.config.addressBook.length,
          screening: b.config.screening,
          checkpointKeys: b.config.checkpointKeys,
          signers: b.signatures.map((s) => s.principal),
        };
        emit(o, summary, () =>
          [
            `bundle v${summary.version}  ${summary.digest}`,
            `prev        ${summary.prevDigest ?? '(genesis)'}`,
            `effective   ${summary.effectiveAt} (proposed ${summary.proposedAt})`,
            `admin       quorum ${summary.admin.quorum}, delay floor ${summary.admin.delayFloorMs} ms`,
            ...summary.principals.map(
              (p) =>
                `principal   ${p.id} [${p.roles.join(',')}] {${p.groups.join(',')}} ${p.status} keys: ${p.activeCredentials.join(',')}`,
            ),
            `wallets     ${summary.wallets.join(', ')}`,
            `signed by   ${summary.signers.join(', ')}`,
          ].join('\n'),
        );
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  bundle
    .command('verify <file>')
    .description('verify a bundle chain offline from the pinned genesis admin keys')
    .requiredOption('--genesis <keys>', 'genesis JSON file, or comma-separated admin public keys (hex)')
    .option('--quorum <n>', 'genesis quorum (with a key list)')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { genesis: string; quorum?: string; json?: boolean }) => {
      const o = makeOutput(Boolean(opts.json));
      try {
        const r = verifyBundleChain(readChain(file), readGenesis(opts.genesis, opts.quorum));
        if (r.ok) {
          const latest = r.value.latest;
          const out = {
            ok: true,
            version: latest.version,
            digest: bundleDigest(latest),
            effectiveAt: latest.effectiveAt,
          };
          emit(
            o,
            out,
            () =>
              `ok: chain verifies up to bundle v${out.version} ${out.digest} (effective ${out.effectiveAt})`,
          );
          ctx.exit(EXIT.ok);
        } else {
          emit(
            o,
            r,
            () => `FAILED ${r.code}: ${r.message}${r.details ? ` ${JSON.stringify(r.details)}` : ''}`,
          );
          ctx.exit(EXIT.failed);
        }
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  bundle
    .command('export')
    .description('write the trust bundle chain stored in the database, after verifying it from the genesis')
    .option('--config <file>', 'node config file', join(DEFAULT_CONFIG_DIR, CONFIG_FILE_NAME))
    .requiredOption('--genesis <keys>', 'genesis JSON file, or comma-separated admin public keys (hex)')
    .option('--quorum <n>', 'genesis quorum (with a key list)')
    .requiredOption('--out <file>', 'chain file to write (never overwritten)')
    .action(async (opts: { config: string; genesis: string; quorum?: string; out: string }) => {
      const o = makeOutput(true);
      try {
        const cfg = loadNodeConfig(opts.config);
        const db = await openDb({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir });
        try {
          const gov = new GovernanceService(db, {
            genesis: readGenesis(opts.genesis, opts.quorum),
            now: () => new Date().toISOString(),
          });
          // chain() re-verifies every stored bundle: a forged row is refused, never exported.
          const chain = await gov.chain();
          writeFileSync(opts.out, `${JSON.stringify(chain, null, 2)}\n`, { flag: 'wx' });
          const last = chain[chain.length - 1];
          emit(
            o,
            {
              ok: true,
              bundles: chain.length,
              version: last?.version ?? 0,
              digest: last ? bundleDigest(last) : null,
            },
            () => '',
          );
        } finally {
          await db.close();
        }
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });

  bundle
    .command('assemble <proposal>')
    .description(
      'build the bundle from a proposal file and vote files (for offline chains; verify it afterwards)',
    )
    .requiredOption('--vote <file...>', 'vote outputs of `custos vote` (or AdminSignature JSON)')
    .requiredOption('--out <file>', 'bundle file to write (never overwritten)')
    .action((file: string, opts: { vote: string[]; out: string }) => {
      const o = makeOutput(true);
      try {
        const raw = readJsonFile(file, 'proposal') as { proposal?: unknown; signature?: unknown };
        const doc = proposalDocumentSchema.safeParse(raw.proposal ?? raw);
        if (!doc.success)
          throw new InvalidInputError('MALFORMED_PROPOSAL', file, doc.error.issues[0]!.message);
        const sigs: AdminSignature[] = [];
        for (const v of [
          ...(raw.signature ? [raw] : []),
          ...opts.vote.map((f) => readJsonFile(f, 'vote') as { signature?: unknown }),
        ]) {
          const s = adminSignatureSchema.safeParse(v.signature ?? v);
          if (!s.success)
            throw new InvalidInputError('MALFORMED_SIGNATURE', 'vote', s.error.issues[0]!.message);
          sigs.push(s.data);
        }
        const b = assembleBundle(doc.data as unknown as ProposalDocument, sigs);
        writeFileSync(opts.out, `${JSON.stringify(b, null, 2)}\n`, { flag: 'wx' });
        emit(o, { ok: true, version: b.version, digest: bundleDigest(b), out: opts.out }, () => '');
        ctx.exit(EXIT.ok);
      } catch (e) {
        ctx.exit(reportError(o, e));
      }
    });
}
