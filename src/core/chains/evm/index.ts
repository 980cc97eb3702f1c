/** EVM custody, pure layer: Safe hashing and verification, hot-wallet verification, watchtower matching. */
export { type DecodedCall, decodeCall, describeCall } from './decode-call.ts';
export { type EvmVerifyCode, type Finding, sortFindings } from './findings.ts';
export {
  computeSafeTxHashes,
  domainHasChainId,
  parseSafeVersion,
  type SafeTxHashes,
  type SafeVersion,
} from './safe-hash.ts';
export {
  parseSafeTxJson,
  type SafeTxFile,
  type SafeTxJson,
  safeTxFileSchema,
  safeTxFromJson,
  safeTxJsonSchema,
  safeTxToJson,
} from './safe-tx-schema.ts';
export { classifySelector, ERC20_TRANSFER_SELECTOR } from './selectors.ts';
export { signerAddress, signHotTx, signSafeTx } from './sign.ts';
export { type DecodedTx, decodeSignedTransaction, decodeUnsignedEip1559 } from './tx-decode.ts';
export { type SafeTypedData, safeTypedData, safeTypedDataHash } from './typed-data.ts';
export type { Address, Hex, SafeOperation, SafeTxFields } from './types.ts';
export { type HotVerification, verifyHotTransaction } from './verify-hot.ts';
export {
  inspectSafeTx,
  intentFindings,
  type SafeVerification,
  safeStateFindings,
  verifySafeTransaction,
} from './verify-safe.ts';
export {
  type AssetRegistry,
  type EvmAssetInfo,
  type EvmWallet,
  type HotChainState,
  type HotWallet,
  type HotWalletConfig,
  hotWalletConfigSchema,
  parseEvmWallet,
  parseEvmWalletConfig,
  type SafeChainState,
  type SafeWallet,
  type SafeWalletConfig,
  safeWalletConfigSchema,
} from './wallet-config.ts';
export {
  buildCustodyIndex,
  type CustodyIndex,
  type EvmAlert,
  type EvmAlertCode,
  type MatchCandidates,
  type MatchLookup,
  matchBlock,
  matchCandidates,
  touchedSafes,
  type WatchBlock,
  type WatchLog,
  type WatchTx,
} from './watch.ts';
