import { fail, ok, type Result } from '../errors/base.ts';
import type { PrincipalSet } from '../identity/principal-set.ts';
import type { Role } from '../identity/types.ts';
import { type Action, actionDigest } from './actions.ts';
import { type IntentSignature, intentSignatureSchema } from './signature.ts';
import { type SignatureFailureCode, verifySignatureOver } from './verify-signature.ts';

export type ActionFailureCode =
  | SignatureFailureCode
  | 'SIGNATURE_REQUIRED'
  | 'MALFORMED_SIGNATURE'
  | 'REVOKED_PRINCIPAL'
  | 'REVOKED_CREDENTIAL'
  | 'FORBIDDEN_ROLE';

/** Which role each state-changing action needs. */
export const ACTION_ROLE: Record<Action['kind'], Role> = {
  submit: 'requester',
  approve: 'approver',
  reject: 'approver',
  cancel: 'requester',
  propose: 'admin',
  vote: 'admin',
};

/**
 * Authorizes one state-changing action. A session (cookie, bearer token) is never enough: the
 * caller must present a signature over this action's digest by an active credential of an active
 * principal with the role the action needs. `roles` overrides the default (e.g. an approver may
 * also cancel). Returns who signed.
 */
export function verifyActionSignature(
  action: Action,
  sig: IntentSignature | undefined,
  principals: PrincipalSet,
  roles: readonly Role[] = [ACTION_ROLE[action.kind]],
): Result<{ principal: string; credentialId: string; signCount?: number }, ActionFailureCode> {
  if (sig === undefined)
    return fail('SIGNATURE_REQUIRED', `${action.kind} needs a signature over its action digest`);
  const parsed = intentSignatureSchema.safeParse(sig);
  if (!parsed.success) return fail('MALFORMED_SIGNATURE', parsed.error.issues[0]!.message);
  const v = verifySignatureOver(actionDigest(action), parsed.data, principals);
  if (!v.ok) return v;
  const { principal, credential, signCount } = v.value;
  if (principal.status !== 'active') return fail('REVOKED_PRINCIPAL', 'principal is revoked');
  if (credential.status !== 'active') return fail('REVOKED_CREDENTIAL', 'credential is revoked');
  if (!roles.some((r) => principal.roles.includes(r))) {
    return fail('FORBIDDEN_ROLE', `${action.kind} needs role ${roles.join(' or ')}`);
  }
  return ok({ principal: principal.id, credentialId: credential.id, signCount });
}
