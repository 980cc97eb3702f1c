import { parseAbi } from 'viem';

/** The slices of the Safe ABI Custos calls (identical across 1.3.0 and 1.4.1 for these). */
export const safeAbi = parseAbi([
  'function nonce() view returns (uint256)',
  'function getOwners() view returns (address[])',
  'function getThreshold() view returns (uint256)',
  'function getModulesPaginated(address start, uint256 pageSize) view returns (address[] array, address next)',
  'function VERSION() view returns (string)',
  'function getTransactionHash(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, uint256 _nonce) view returns (bytes32)',
  'function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address payable refundReceiver, bytes signatures) payable returns (bool success)',
  'function setup(address[] _owners, uint256 _threshold, address to, bytes data, address fallbackHandler, address paymentToken, uint256 payment, address paymentReceiver)',
]);

export const proxyFactoryAbi = parseAbi([
  'function createProxyWithNonce(address _singleton, bytes initializer, uint256 saltNonce) returns (address proxy)',
]);

/** Storage slots outside the linear layout (keccak256 of a name, see GuardManager/FallbackManager). */
export const GUARD_STORAGE_SLOT = '0x4a204f620c8c5ccdca3fd54d003badd85ba500436a431f0cbda4f558c93c34c8';
export const FALLBACK_HANDLER_STORAGE_SLOT =
  '0x6c9a6c4a39284e37ed1cf53d337577d14212a4870fb976a4366c693b939918d5';
/**
 * The proxy's linear storage as the supported singletons (1.3.0, 1.4.1) lay it out: Singleton
 * (slot 0), ModuleManager's `modules` mapping (1), OwnerManager's `owners` mapping (2), ownerCount
 * (3) and threshold (4), then Safe's nonce (5).
 */
export const SAFE_SLOTS = {
  singleton: '0x0',
  modules: 1n,
  owners: 2n,
  threshold: '0x4',
  nonce: '0x5',
} as const;
/** Linked-list sentinel of OwnerManager/ModuleManager. */
export const SENTINEL = '0x0000000000000000000000000000000000000001';
