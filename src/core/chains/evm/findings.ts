/**
 * Reason codes of the EVM co-signer verifier (issue 5, item 4). Stable: the co-signer returns
 * them in refusals, the CLI prints them, the audit log records them.
 */
export type EvmVerifyCode =
  | 'DESTINATION_MISMATCH'
  | 'AMOUNT_MISMATCH'
  | 'ASSET_MISMATCH'
  | 'DELEGATECALL'
  | 'SELF_CALL'
  | 'PRIVILEGED_CALL'
  | 'TOKEN_APPROVAL'
  | 'UNKNOWN_CALLDATA'
  | 'GAS_REFUND'
  | 'NONCE_MISMATCH'
  | 'FEE_ABOVE_MAX'
  | 'CHAIN_MISMATCH'
  | 'WALLET_CONFIG_CHANGED'
  | 'WALLET_MISMATCH'
  | 'INVALID_TRANSACTION';

export interface Finding {
  code: EvmVerifyCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Order in which a refusal reports its primary code when several apply: the most dangerous
 * first (a delegatecall that also has a wrong amount is reported as DELEGATECALL).
 */
const PRIORITY: EvmVerifyCode[] = [
  'INVALID_TRANSACTION',
  'CHAIN_MISMATCH',
  'WALLET_MISMATCH',
  'WALLET_CONFIG_CHANGED',
  'DELEGATECALL',
  'SELF_CALL',
  'PRIVILEGED_CALL',
  'TOKEN_APPROVAL',
  'UNKNOWN_CALLDATA',
  'GAS_REFUND',
  'ASSET_MISMATCH',
  'DESTINATION_MISMATCH',
  'AMOUNT_MISMATCH',
  'FEE_ABOVE_MAX',
  'NONCE_MISMATCH',
];

export function sortFindings(f: Finding[]): Finding[] {
  return [...f].sort((a, b) => PRIORITY.indexOf(a.code) - PRIORITY.indexOf(b.code));
}
