/** Shared EVM types for the pure layer. Amounts are bigint base units; addresses are 0x hex. */
export type Hex = `0x${string}`;
export type Address = `0x${string}`;

/** Safe `Enum.Operation`: 0 CALL, 1 DELEGATECALL (2 CREATE existed only in 0.1.0). */
export type SafeOperation = 0 | 1 | 2;

/** The ten fields of a SafeTx (EIP-712 message), exactly as execTransaction takes them. */
export interface SafeTxFields {
  to: Address;
  value: bigint;
  data: Hex;
  operation: SafeOperation;
  safeTxGas: bigint;
  /** `dataGas` in Safe 0.1.0; same position and meaning. */
  baseGas: bigint;
  gasPrice: bigint;
  gasToken: Address;
  refundReceiver: Address;
  nonce: bigint;
}

export const ZERO_ADDRESS: Address = '0x0000000000000000000000000000000000000000';

/** Case-insensitive address equality (inputs are validated hex; case is only the EIP-55 checksum). */
export function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
