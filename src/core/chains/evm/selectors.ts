import { toFunctionSelector } from 'viem';

/**
 * Function selectors by risk class. Selectors are computed here from the canonical signatures
 * (keccak256(signature)[0:4]); test/evm/selectors.test.ts checks them against
 * ../shared/vectors/ethereum/function_selectors_common.json.
 *
 * PRIVILEGED: ownership, admin, upgrade, Safe configuration and batching functions on ANY
 *   contract (Radiant, Oct 2024: `transferOwnership` on a protocol contract with operation 0;
 *   Bybit, Feb 2025: backdoor `sweepETH`/`sweepERC20` after the masterCopy swap).
 * TOKEN_APPROVAL: grants someone else the right to move the wallet's tokens later, outside any
 *   intent (ERC-20 approve/allowance, EIP-2612 and DAI permit, ERC-721/1155 operator, Permit2).
 */
const PRIVILEGED = [
  'transferOwnership(address)',
  'renounceOwnership()',
  'acceptOwnership()',
  'setOwner(address)',
  'changeOwner(address)',
  'upgradeTo(address)',
  'upgradeToAndCall(address,bytes)',
  'changeAdmin(address)',
  'setAdmin(address)',
  'setImplementation(address)',
  'grantRole(bytes32,address)',
  'revokeRole(bytes32,address)',
  'renounceRole(bytes32,address)',
  'initialize()',
  // Safe configuration and execution (any Safe, not only ours: a nested Safe is a privileged target)
  'setup(address[],uint256,address,bytes,address,address,uint256,address)',
  'addOwnerWithThreshold(address,uint256)',
  'removeOwner(address,address,uint256)',
  'swapOwner(address,address,address)',
  'changeThreshold(uint256)',
  'enableModule(address)',
  'disableModule(address,address)',
  'setGuard(address)',
  'setModuleGuard(address)',
  'setFallbackHandler(address)',
  'changeMasterCopy(address)',
  'approveHash(bytes32)',
  'execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)',
  'execTransactionFromModule(address,uint256,bytes,uint8)',
  'signMessage(bytes)',
  // batching hides the calls it makes
  'multiSend(bytes)',
  'multicall(bytes[])',
  // Bybit backdoor implementation
  'sweepETH(address)',
  'sweepERC20(address,address)',
] as const;

const TOKEN_APPROVAL = [
  'approve(address,uint256)',
  'increaseAllowance(address,uint256)',
  'decreaseAllowance(address,uint256)',
  'permit(address,address,uint256,uint256,uint8,bytes32,bytes32)',
  'permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)',
  'setApprovalForAll(address,bool)',
  'approve(address,address,uint160,uint48)',
] as const;

export const ERC20_TRANSFER_SIGNATURE = 'transfer(address,uint256)';
export const ERC20_TRANSFER_SELECTOR = toFunctionSelector(ERC20_TRANSFER_SIGNATURE);

export type SelectorClass = 'PRIVILEGED_CALL' | 'TOKEN_APPROVAL';

const TABLE = new Map<string, { signature: string; class: SelectorClass }>();
for (const s of PRIVILEGED) TABLE.set(toFunctionSelector(s), { signature: s, class: 'PRIVILEGED_CALL' });
for (const s of TOKEN_APPROVAL) TABLE.set(toFunctionSelector(s), { signature: s, class: 'TOKEN_APPROVAL' });

/** Classifies a 4-byte selector (lowercase 0x hex); undefined when it is not a known risky function. */
export function classifySelector(selector: string): { signature: string; class: SelectorClass } | undefined {
  return TABLE.get(selector.toLowerCase());
}

export function knownRiskySelectors(): ReadonlyMap<string, { signature: string; class: SelectorClass }> {
  return TABLE;
}
