import { bytesToHex } from '@noble/hashes/utils.js';
import { fail, ok, type Result } from '../../errors/base.ts';
import type { Intent } from '../../intent/schema.ts';
import { type AssetId, parseAssetId, parseChainId } from '../caip.ts';
import { type DecodedCall, decodeCall } from './decode-call.ts';
import { type EvmVerifyCode, type Finding, sortFindings } from './findings.ts';
import { parseSafeVersion, type SafeTxHashes, safeTxHashBytes } from './safe-hash.ts';
import { type SafeTypedData, safeTypedDataWithDigest } from './typed-data.ts';

const toHex = (b: Uint8Array): Hex => `0x${bytesToHex(b)}`;

import { type Address, type Hex, type SafeTxFields, sameAddress, ZERO_ADDRESS } from './types.ts';
import type { AssetRegistry, SafeChainState, SafeWallet } from './wallet-config.ts';

/**
 * Checks on the Safe transaction alone (no intent): what `custos verify safe-tx` prints without
 * `--intent`, and the default-deny part of the co-signer's verification (invariant I3).
 */
export function inspectSafeTx(safe: Address, tx: SafeTxFields): { call: DecodedCall; findings: Finding[] } {
  const findings: Finding[] = [];
  const call = decodeCall(tx.to, tx.value, tx.data);
  // Bybit (Feb 2025) and WazirX (Jul 2024): operation 1 runs the target's code in the Safe's own
  // storage context, so a "transfer" can rewrite slot 0 (masterCopy) and hand the Safe over.
  if (tx.operation !== 0) {
    findings.push({
      code: 'DELEGATECALL',
      message: `operation ${tx.operation} (${tx.operation === 1 ? 'DELEGATECALL' : 'CREATE'}) is never signed`,
      details: { operation: tx.operation, to: tx.to },
    });
  }
  // A call to the Safe itself reaches its authorized-only functions: owners, threshold, modules,
  // guard, fallback handler, and (in old versions) changeMasterCopy.
  if (sameAddress(tx.to, safe)) {
    findings.push({
      code: 'SELF_CALL',
      message: 'the transaction calls the Safe itself',
      details: { to: tx.to },
    });
  }
  if (call.kind === 'contract-call') {
    const what = call.signature ?? call.selector ?? 'short data';
    const message =
      call.class === 'PRIVILEGED_CALL'
        ? `privileged function ${what} (ownership/admin/upgrade/configuration)`
        : call.class === 'TOKEN_APPROVAL'
          ? `token approval ${what} lets someone else move funds later`
          : `calldata does not decode to a transfer (${what})`;
    findings.push({ code: call.class, message, details: { to: call.to, selector: call.selector } });
  }
  // Gas refund drain: with gasPrice > 0 the Safe pays (gasUsed + baseGas) * gasPrice in gasToken
  // to refundReceiver (or tx.origin) — an attacker-chosen payee on top of the transfer.
  const gas: Record<string, string> = {};
  if (tx.gasPrice !== 0n) gas.gasPrice = tx.gasPrice.toString();
  if (tx.baseGas !== 0n) gas.baseGas = tx.baseGas.toString();
  if (tx.safeTxGas !== 0n) gas.safeTxGas = tx.safeTxGas.toString();
  if (!sameAddress(tx.gasToken, ZERO_ADDRESS)) gas.gasToken = tx.gasToken;
  if (!sameAddress(tx.refundReceiver, ZERO_ADDRESS)) gas.refundReceiver = tx.refundReceiver;
  if (Object.keys(gas).length > 0) {
    findings.push({ code: 'GAS_REFUND', message: 'gas/refund fields must all be zero', details: gas });
  }
  return { call, findings };
}

/** Does the decoded call do exactly what the intent says (asset, destination, amount)? */
export function intentFindings(intent: Intent, call: DecodedCall, assets: AssetRegistry): Finding[] {
  const asset: AssetId = parseAssetId(intent.asset, 'asset');
  const amount = BigInt(intent.amount);
  if (!assets.get(intent.asset)) {
    return [
      { code: 'ASSET_MISMATCH', message: 'asset is not in the registry', details: { asset: intent.asset } },
    ];
  }
  const out: Finding[] = [];
  if (asset.kind === 'native') {
    if (call.kind !== 'native-transfer') {
      if (call.kind === 'erc20-transfer') {
        out.push({
          code: 'ASSET_MISMATCH',
          message: 'intent is native ETH but the tx is an ERC-20 transfer',
        });
      }
      return out; // contract calls are already reported by inspectSafeTx
    }
    if (!sameAddress(call.to, intent.destination)) {
      out.push({
        code: 'DESTINATION_MISMATCH',
        message: 'recipient differs from the intent',
        details: { expected: intent.destination, actual: call.to },
      });
    }
    if (call.value !== amount) {
      out.push({
        code: 'AMOUNT_MISMATCH',
        message: 'value differs from the intent',
        details: { expected: intent.amount, actual: call.value.toString() },
      });
    }
    return out;
  }
  if (asset.kind !== 'erc20') return [{ code: 'ASSET_MISMATCH', message: 'not an EVM asset' }];
  if (call.kind === 'native-transfer') {
    return [{ code: 'ASSET_MISMATCH', message: 'intent is an ERC-20 transfer but the tx sends native ETH' }];
  }
  if (call.kind !== 'erc20-transfer') return out;
  if (!sameAddress(call.token, asset.contract)) {
    out.push({
      code: 'ASSET_MISMATCH',
      message: 'token contract differs from the intent',
      details: { expected: asset.contract, actual: call.token },
    });
  }
  if (!sameAddress(call.recipient, intent.destination)) {
    out.push({
      code: 'DESTINATION_MISMATCH',
      message: 'token recipient differs from the intent',
      details: { expected: intent.destination, actual: call.recipient },
    });
  }
  if (call.amount !== amount) {
    out.push({
      code: 'AMOUNT_MISMATCH',
      message: 'token amount differs from the intent',
      details: { expected: intent.amount, actual: call.amount.toString() },
    });
  }
  if (call.value !== 0n) {
    out.push({
      code: 'AMOUNT_MISMATCH',
      message: 'an ERC-20 transfer must not also send ETH',
      details: { value: call.value.toString() },
    });
  }
  return out;
}

const sortedLower = (a: readonly string[]) => a.map((x) => x.toLowerCase()).sort();
const sameSet = (a: readonly string[], b: readonly string[]) =>
  sortedLower(a).join() === sortedLower(b).join();

/**
 * WALLET_CONFIG_CHANGED: the Safe on chain is not the Safe that was registered. Slot 0 is read
 * directly (not via a getter the implementation could fake) because a swapped masterCopy is
 * exactly what the Bybit attacker installed.
 */
export function safeStateFindings(wallet: SafeWallet, state: SafeChainState): Finding[] {
  const c = wallet.config;
  const diffs: Record<string, unknown> = {};
  if (!sameAddress(state.singleton, c.singleton))
    diffs.singleton = { expected: c.singleton, actual: state.singleton };
  if (!sameSet(state.owners, c.owners)) diffs.owners = { expected: c.owners, actual: state.owners };
  if (state.threshold !== BigInt(c.threshold))
    diffs.threshold = { expected: c.threshold, actual: state.threshold.toString() };
  if (!sameSet(state.modules, c.modules)) diffs.modules = { expected: c.modules, actual: state.modules };
  if (!sameAddress(state.guard, c.guard)) diffs.guard = { expected: c.guard, actual: state.guard };
  if (!sameAddress(state.fallbackHandler, c.fallbackHandler)) {
    diffs.fallbackHandler = { expected: c.fallbackHandler, actual: state.fallbackHandler };
  }
  if (Object.keys(diffs).length === 0) return [];
  return [
    {
      code: 'WALLET_CONFIG_CHANGED',
      message: `on-chain Safe differs from the registered wallet: ${Object.keys(diffs).join(', ')}`,
      details: diffs,
    },
  ];
}

export interface SafeVerification {
  safeTxHash: Hex;
  typedData: SafeTypedData;
  hashes: SafeTxHashes;
  call: DecodedCall;
}

/**
 * The co-signer's check of a Safe transaction (invariant I1, last clause). Pure: `chainState` is
 * what the co-signer read from its own RPC endpoint. Returns the safeTxHash and the EIP-712
 * typed data it computed itself — sign those, never a hash supplied by the coordinator.
 * On refusal, `code` is the most severe finding and `details.findings` lists all of them.
 */
export function verifySafeTransaction(
  intent: Intent,
  tx: SafeTxFields,
  wallet: SafeWallet,
  chainState: SafeChainState,
  assets: AssetRegistry,
): Result<SafeVerification, EvmVerifyCode> {
  const findings: Finding[] = [];
  const chain = parseChainId(intent.chain, 'chain');
  if (chain.namespace !== 'eip155' || intent.chain !== wallet.chain || chainState.chainId !== chain.chainId) {
    findings.push({
      code: 'CHAIN_MISMATCH',
      message: 'intent, wallet and RPC endpoint do not agree on the chain',
      details: { intent: intent.chain, wallet: wallet.chain, rpcChainId: chainState.chainId.toString() },
    });
  }
  if (intent.wallet !== wallet.id || wallet.type !== 'safe') {
    findings.push({
      code: 'WALLET_MISMATCH',
      message: 'intent names another wallet',
      details: { intent: intent.wallet, wallet: wallet.id },
    });
  }
  findings.push(...safeStateFindings(wallet, chainState));
  const inspected = inspectSafeTx(wallet.config.address, tx);
  findings.push(...inspected.findings, ...intentFindings(intent, inspected.call, assets));
  // A signature for another nonce is a signature for a different transaction slot: signing
  // ahead (or behind) lets it be replayed later, outside the approval it was given for.
  if (tx.nonce !== chainState.nonce) {
    findings.push({
      code: 'NONCE_MISMATCH',
      message: 'nonce is not the Safe’s current nonce',
      details: { expected: chainState.nonce.toString(), actual: tx.nonce.toString() },
    });
  }
  if (findings.length > 0) {
    const sorted = sortFindings(findings);
    return fail(sorted[0]!.code, sorted[0]!.message, { findings: sorted });
  }
  const version = parseSafeVersion(wallet.config.version);
  const chainId = chainState.chainId;
  const raw = safeTxHashBytes(version, chainId, wallet.config.address, tx);
  const hashes: SafeTxHashes = {
    domainHash: toHex(raw.domain),
    messageHash: toHex(raw.message),
    safeTxHash: toHex(raw.digest),
    encodedMessage: toHex(raw.encoded),
  };
  return ok({
    safeTxHash: hashes.safeTxHash,
    typedData: safeTypedDataWithDigest(version, chainId, wallet.config.address, tx, raw.digest),
    hashes,
    call: inspected.call,
  });
}
