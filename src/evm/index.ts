/** EVM custody, I/O layer (coordinator side): builders, executor, broadcaster, chain reads, watchtower. */
export { type DeployableSafeVersion, safeArtifact } from './artifacts.ts';
export { type Broadcast, broadcast } from './broadcast.ts';
export { type BuiltHotTransfer, buildHotTransfer, buildSafeTransfer, transferCall } from './build.ts';
export { readHotChainState, readSafeChainState, readSafeSingleton } from './chain-state.ts';
export {
  createSafe,
  deployBytecode,
  deploySafeInfrastructure,
  deployTestErc20,
  type SafeInfrastructure,
} from './deploy.ts';
export {
  executeSafeTransaction,
  type OwnerSignature,
  packSafeSignatures,
  type SafeExecution,
} from './execute.ts';
export { evmKnownStore, type PreparedLookup } from './known-store.ts';
export { verifySafeRegistration } from './registration.ts';
export { safeAbi } from './safe-abi.ts';
export {
  dbCursorStore,
  memoryCursorStore,
  type ScannedBlock,
  type WatchCursorStore,
} from './watch-cursor.ts';
export { EvmWatchtower, type WatchtowerOptions } from './watchtower.ts';
