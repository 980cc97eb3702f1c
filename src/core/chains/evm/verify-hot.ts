import { fail, ok, type Result } from '../../errors/base.ts';
import type { Intent } from '../../intent/schema.ts';
import { parseChainId } from '../caip.ts';
import { type DecodedCall, decodeCall } from './decode-call.ts';
import { type EvmVerifyCode, type Finding, sortFindings } from './findings.ts';
import { decodeUnsignedEip1559 } from './tx-decode.ts';
import type { Address, Hex } from './types.ts';
import { intentFindings } from './verify-safe.ts';
import type { AssetRegistry, HotChainState, HotWallet } from './wallet-config.ts';

export interface HotVerification {
  /** keccak256 of the unsigned EIP-1559 payload: the digest the hot key signs */
  signingHash: Hex;
  call: DecodedCall;
  /** worst-case fee: gas limit × maxFeePerGas */
  maxFeeWei: bigint;
}

/**
 * The hot-wallet co-signer's check of an unsigned EIP-1559 transaction, decoded from the raw
 * bytes it will sign. The fee cap is bounded by the intent's `maxFee`: a hot wallet pays its own
 * gas, and an unbounded fee cap is a siphon (T7). An intent without `maxFee` is refused for a hot
 * wallet (fail closed). Default-deny of contract calls is the same as for Safes.
 */
export function verifyHotTransaction(
  intent: Intent,
  serializedUnsignedTx: Hex,
  wallet: HotWallet,
  chainState: HotChainState,
  assets?: AssetRegistry,
): Result<
  HotVerification,
  | EvmVerifyCode
  | 'TX_MALFORMED'
  | 'TX_NONCANONICAL'
  | 'TX_FIELD_OVERFLOW'
  | 'TX_UNSUPPORTED_TYPE'
  | 'TX_SIGNED'
> {
  const decoded = decodeUnsignedEip1559(serializedUnsignedTx);
  if (!decoded.ok)
    return decoded.code === 'CHAIN_MISMATCH' || decoded.code === 'TX_BAD_SIGNATURE'
      ? fail('INVALID_TRANSACTION', decoded.message)
      : fail(decoded.code, decoded.message);
  const tx = decoded.value;
  const findings: Finding[] = [];
  const chain = parseChainId(intent.chain, 'chain');
  if (
    chain.namespace !== 'eip155' ||
    intent.chain !== wallet.chain ||
    chainState.chainId !== chain.chainId ||
    tx.chainId !== chain.chainId
  ) {
    findings.push({
      code: 'CHAIN_MISMATCH',
      message: 'intent, wallet, RPC endpoint and transaction do not agree on the chain',
      details: {
        intent: intent.chain,
        wallet: wallet.chain,
        rpcChainId: chainState.chainId.toString(),
        txChainId: String(tx.chainId),
      },
    });
  }
  if (intent.wallet !== wallet.id || wallet.type !== 'evm-hot') {
    findings.push({ code: 'WALLET_MISMATCH', message: 'intent names another wallet' });
  }
  let call: DecodedCall;
  if (tx.to === null) {
    call = {
      kind: 'contract-call',
      to: '0x0000000000000000000000000000000000000000' as Address,
      value: tx.value,
      selector: null,
      class: 'UNKNOWN_CALLDATA',
    };
    findings.push({ code: 'UNKNOWN_CALLDATA', message: 'contract creation is never signed' });
  } else {
    call = decodeCall(tx.to, tx.value, tx.data);
    if (call.kind === 'contract-call') {
      findings.push({
        code: call.class,
        message: `call ${call.signature ?? call.selector ?? ''} is not a transfer`,
        details: { to: call.to },
      });
    }
    findings.push(...intentFindings(intent, call, assets ?? { get: (a) => ({ caip19: a, decimals: 18 }) }));
  }
  if (tx.accessListLength > 0) {
    findings.push({
      code: 'UNKNOWN_CALLDATA',
      message: 'access lists are not used for transfers',
      details: { entries: tx.accessListLength },
    });
  }
  const maxFeeWei = tx.gas * (tx.maxFeePerGas ?? 0n);
  if (intent.maxFee === undefined) {
    findings.push({
      code: 'FEE_ABOVE_MAX',
      message: 'intent sets no maxFee; a hot-wallet transaction needs a bound',
    });
  } else if (maxFeeWei > BigInt(intent.maxFee)) {
    findings.push({
      code: 'FEE_ABOVE_MAX',
      message: 'gas × maxFeePerGas exceeds the intent’s maxFee',
      details: { maxFee: intent.maxFee, actual: maxFeeWei.toString() },
    });
  }
  if (tx.nonce !== chainState.nonce) {
    findings.push({
      code: 'NONCE_MISMATCH',
      message: 'nonce is not the account’s next nonce',
      details: { expected: chainState.nonce.toString(), actual: tx.nonce.toString() },
    });
  }
  if (findings.length > 0) {
    const sorted = sortFindings(findings);
    return fail(sorted[0]!.code, sorted[0]!.message, { findings: sorted });
  }
  return ok({ signingHash: tx.signingHash, call, maxFeeWei });
}
