import { z } from 'zod';
import type { GovernanceService, ProposalRecord } from '../../store/governance/service.ts';
import { ProblemError } from '../http/problem.ts';
import type { GovernancePort } from '../http/routes/directory.ts';

const proposeBody = z
  .object({ document: z.record(z.string(), z.unknown()), signature: z.record(z.string(), z.unknown()) })
  .strict();
const voteBody = z
  .object({
    vote: z.enum(['approve', 'cancel']).default('approve'),
    signature: z.record(z.string(), z.unknown()),
  })
  .strict();

const STATUS: Record<string, number> = {
  UNKNOWN_PROPOSAL: 404,
  NOT_PENDING: 409,
  ALREADY_VOTED: 409,
  DUPLICATE_PROPOSAL: 409,
  DELAY_OVER: 409,
  STALE_PROPOSAL: 409,
  SIGNATURE_REQUIRED: 401,
  BAD_SIGNATURE: 401,
};

function view(p: ProposalRecord) {
  const { document, ...rest } = p;
  return { ...rest, ...(document ? { document } : {}) };
}

/**
 * The governance API over src/store/governance (proposals, admin votes, cancellation). Every
 * call carries an admin signature over the proposal/vote digest; the service verifies it.
 */
export function governanceAdapter(
  gov: GovernanceService,
  onExecuted: () => Promise<unknown>,
): GovernancePort & {
  executeDue(): Promise<number>;
} {
  const raise = (r: { code: string; message: string }): never => {
    throw new ProblemError(STATUS[r.code] ?? 422, r.code, r.message);
  };
  return {
    async list() {
      return (await gov.listProposals()).map(view);
    },
    async get(id) {
      const p = await gov.proposal(id);
      return p ? view(p) : undefined;
    },
    async propose(body) {
      const b = proposeBody.safeParse(body);
      if (!b.success)
        throw new ProblemError(400, 'VALIDATION_FAILED', b.error.issues[0]!.message, {
          field: `/body/${b.error.issues[0]!.path.join('/')}`,
        });
      const r = await gov.propose(b.data.document, b.data.signature as never);
      return r.ok ? view(r.value) : raise(r);
    },
    async vote(id, body) {
      const b = voteBody.safeParse(body);
      if (!b.success)
        throw new ProblemError(400, 'VALIDATION_FAILED', b.error.issues[0]!.message, {
          field: `/body/${b.error.issues[0]!.path.join('/')}`,
        });
      const r =
        b.data.vote === 'cancel'
          ? await gov.cancel(id, b.data.signature as never)
          : await gov.vote(id, b.data.signature as never);
      return r.ok ? r.value : raise(r);
    },
    /** Executes pending proposals whose delay elapsed and whose quorum is met (others stay pending). */
    async executeDue() {
      let n = 0;
      for (const p of await gov.listProposals()) {
        if (p.status !== 'pending') continue;
        const r = await gov.execute(p.digest);
        if (r.ok) n++;
      }
      if (n > 0) await onExecuted();
      return n;
    },
  };
}
