import { decodeFunctionData, getAddress, parseAbiItem } from 'viem';
import { classifySelector, ERC20_TRANSFER_SELECTOR, ERC20_TRANSFER_SIGNATURE } from './selectors.ts';
import type { Address, Hex } from './types.ts';

/**
 * What a call (to, value, data) does, decoded from raw bytes. Only two shapes are transfers:
 * a plain value transfer with empty data, and an exact ERC-20 `transfer(address,uint256)`:
 * 4 + 32 + 32 bytes, the address word's top 12 bytes zero (strict ABI; a dirty high part or
 * trailing bytes are how decoders have been made to disagree). Everything else is classified
 * by selector and refused by the verifier unless a policy allows that exact operation.
 */
export type DecodedCall =
  | { kind: 'native-transfer'; to: Address; value: bigint }
  | { kind: 'erc20-transfer'; token: Address; recipient: Address; amount: bigint; value: bigint }
  | {
      kind: 'contract-call';
      to: Address;
      value: bigint;
      selector: Hex | null;
      signature?: string;
      /** decoded arguments of a known signature, for display (absent when they do not decode) */
      args?: string[];
      class: 'PRIVILEGED_CALL' | 'TOKEN_APPROVAL' | 'UNKNOWN_CALLDATA';
    };

function displayArgs(signature: string, data: Hex): string[] | undefined {
  try {
    const abi = [parseAbiItem(`function ${signature}`)];
    const { args } = decodeFunctionData({ abi, data });
    return (args ?? []).map((a) =>
      typeof a === 'string' || typeof a === 'bigint' || typeof a === 'boolean'
        ? String(a)
        : JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
  } catch {
    return undefined;
  }
}

const ZERO_12 = '000000000000000000000000';

export function decodeCall(to: Address, value: bigint, data: Hex): DecodedCall {
  const hex = data.toLowerCase();
  if (hex === '0x') return { kind: 'native-transfer', to, value };
  if (hex.length < 10) return { kind: 'contract-call', to, value, selector: null, class: 'UNKNOWN_CALLDATA' };
  const selector = hex.slice(0, 10) as Hex;
  if (selector === ERC20_TRANSFER_SELECTOR) {
    const body = hex.slice(10);
    if (body.length === 128 && body.startsWith(ZERO_12)) {
      return {
        kind: 'erc20-transfer',
        token: to,
        recipient: getAddress(`0x${body.slice(24, 64)}`),
        amount: BigInt(`0x${body.slice(64, 128)}`),
        value,
      };
    }
    return {
      kind: 'contract-call',
      to,
      value,
      selector,
      signature: ERC20_TRANSFER_SIGNATURE,
      class: 'UNKNOWN_CALLDATA',
    };
  }
  const known = classifySelector(selector);
  if (known) {
    const args = displayArgs(known.signature, hex as Hex);
    return {
      kind: 'contract-call',
      to,
      value,
      selector,
      signature: known.signature,
      ...(args ? { args } : {}),
      class: known.class,
    };
  }
  return { kind: 'contract-call', to, value, selector, class: 'UNKNOWN_CALLDATA' };
}

/** Human one-liner for CLIs and the console. */
export function describeCall(c: DecodedCall): string {
  switch (c.kind) {
    case 'native-transfer':
      return `native transfer of ${c.value} wei to ${c.to}`;
    case 'erc20-transfer':
      return `ERC-20 transfer of ${c.amount} (token ${c.token}) to ${c.recipient}${c.value > 0n ? ` plus ${c.value} wei` : ''}`;
    default:
      return `call ${c.signature ?? c.selector ?? '(short data)'}${c.args ? ` (${c.args.join(', ')})` : ''} on ${c.to} with ${c.value} wei [${c.class}]`;
  }
}
