import { toEventSelector } from 'viem';

/**
 * Event topics the watchtower recognises. topic0 does not depend on which parameters are
 * indexed, so one table serves Safe 1.3.0 (txHash in data) and 1.4.1 (txHash indexed).
 */
export const TRANSFER_TOPIC = toEventSelector('Transfer(address,address,uint256)');
export const EXECUTION_SUCCESS_TOPIC = toEventSelector('ExecutionSuccess(bytes32,uint256)');
export const EXECUTION_FAILURE_TOPIC = toEventSelector('ExecutionFailure(bytes32,uint256)');
export const MODULE_SUCCESS_TOPIC = toEventSelector('ExecutionFromModuleSuccess(address)');
export const MODULE_FAILURE_TOPIC = toEventSelector('ExecutionFromModuleFailure(address)');

/** Safe configuration events: every one of them is a WALLET_CONFIG_CHANGE alert. */
export const CONFIG_EVENTS: ReadonlyMap<string, string> = new Map(
  [
    'AddedOwner(address)',
    'RemovedOwner(address)',
    'ChangedThreshold(uint256)',
    'EnabledModule(address)',
    'DisabledModule(address)',
    'ChangedGuard(address)',
    'ChangedModuleGuard(address)',
    'ChangedFallbackHandler(address)',
    'ChangedMasterCopy(address)',
    'SafeSetup(address,address[],uint256,address,address)',
  ].map((sig) => [toEventSelector(sig), sig.slice(0, sig.indexOf('('))]),
);
