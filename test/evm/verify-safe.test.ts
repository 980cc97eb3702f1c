import { readFileSync } from 'node:fs';
import { encodeFunctionData, erc20Abi, parseAbi } from 'viem';
import { describe, expect, it } from 'vitest';
import { knownRiskySelectors } from '../../src/core/chains/evm/selectors.ts';
import { verifySafeTransaction } from '../../src/core/chains/evm/verify-safe.ts';
import { parseEvmWallet } from '../../src/core/chains/evm/wallet-config.ts';
import {
  ATTACKER,
  assets,
  CHAIN,
  DEST,
  erc20Transfer,
  intent,
  SAFE,
  safeTx,
  state,
  TOKEN,
  wallet,
} from './fixtures.ts';

const erc20Intent = () => intent({ asset: `${CHAIN}/erc20:${TOKEN}`, amount: '500' });
const code = (r: { ok: boolean; code?: string }) => (r.ok ? 'OK' : r.code);

describe('verifySafeTransaction (pure)', () => {
  it('accepts the exact ETH transfer and returns the hash it computed', () => {
    const r = verifySafeTransaction(intent(), safeTx(), wallet, state, assets);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.safeTxHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(r.value.typedData.domain).toEqual({ chainId: 31337, verifyingContract: SAFE });
    }
  });
  it('accepts the exact ERC-20 transfer', () => {
    const tx = safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 500n) });
    expect(code(verifySafeTransaction(erc20Intent(), tx, wallet, state, assets))).toBe('OK');
  });

  const cases: [string, () => ReturnType<typeof verifySafeTransaction>, string][] = [
    [
      'destination swapped',
      () => verifySafeTransaction(intent(), safeTx({ to: ATTACKER }), wallet, state, assets),
      'DESTINATION_MISMATCH',
    ],
    [
      'amount changed',
      () => verifySafeTransaction(intent(), safeTx({ value: 2n * 10n ** 18n }), wallet, state, assets),
      'AMOUNT_MISMATCH',
    ],
    [
      'token recipient swapped',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(ATTACKER, 500n) }),
          wallet,
          state,
          assets,
        ),
      'DESTINATION_MISMATCH',
    ],
    [
      'token amount changed',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 501n) }),
          wallet,
          state,
          assets,
        ),
      'AMOUNT_MISMATCH',
    ],
    [
      'ETH sent for an ERC-20 intent',
      () => verifySafeTransaction(erc20Intent(), safeTx({ value: 500n }), wallet, state, assets),
      'ASSET_MISMATCH',
    ],
    [
      'ERC-20 for an ETH intent',
      () =>
        verifySafeTransaction(
          intent({ amount: '500' }),
          safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 500n) }),
          wallet,
          state,
          assets,
        ),
      'ASSET_MISMATCH',
    ],
    [
      'another token contract',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({ to: ATTACKER, value: 0n, data: erc20Transfer(DEST, 500n) }),
          wallet,
          state,
          assets,
        ),
      'ASSET_MISMATCH',
    ],
    [
      'unregistered asset',
      () =>
        verifySafeTransaction(
          intent({ asset: `${CHAIN}/erc20:${ATTACKER}`, amount: '500' }),
          safeTx({ to: ATTACKER, value: 0n, data: erc20Transfer(DEST, 500n) }),
          wallet,
          state,
          assets,
        ),
      'ASSET_MISMATCH',
    ],
    [
      'Bybit: delegatecall to transfer(address,uint256)',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({ to: TOKEN, value: 0n, data: erc20Transfer(DEST, 500n), operation: 1 }),
          wallet,
          state,
          assets,
        ),
      'DELEGATECALL',
    ],
    [
      'addOwnerWithThreshold on the Safe',
      () =>
        verifySafeTransaction(
          intent(),
          safeTx({
            to: SAFE,
            value: 0n,
            data: encodeFunctionData({
              abi: parseAbi(['function addOwnerWithThreshold(address,uint256)']),
              args: [ATTACKER, 1n],
            }),
          }),
          wallet,
          state,
          assets,
        ),
      'SELF_CALL',
    ],
    [
      'ETH sent to the Safe itself',
      () => verifySafeTransaction(intent({ destination: SAFE }), safeTx({ to: SAFE }), wallet, state, assets),
      'SELF_CALL',
    ],
    [
      'Radiant: transferOwnership with operation 0',
      () =>
        verifySafeTransaction(
          intent(),
          safeTx({
            to: TOKEN,
            value: 0n,
            data: encodeFunctionData({
              abi: parseAbi(['function transferOwnership(address)']),
              args: [ATTACKER],
            }),
          }),
          wallet,
          state,
          assets,
        ),
      'PRIVILEGED_CALL',
    ],
    [
      'approve to the attacker',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({
            to: TOKEN,
            value: 0n,
            data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [ATTACKER, 500n] }),
          }),
          wallet,
          state,
          assets,
        ),
      'TOKEN_APPROVAL',
    ],
    [
      'unknown calldata',
      () => verifySafeTransaction(intent(), safeTx({ data: '0xdeadbeef' }), wallet, state, assets),
      'UNKNOWN_CALLDATA',
    ],
    [
      'transfer with trailing bytes',
      () =>
        verifySafeTransaction(
          erc20Intent(),
          safeTx({ to: TOKEN, value: 0n, data: `${erc20Transfer(DEST, 500n)}00` }),
          wallet,
          state,
          assets,
        ),
      'UNKNOWN_CALLDATA',
    ],
    [
      'gas refund drain',
      () =>
        verifySafeTransaction(
          intent(),
          safeTx({ gasPrice: 1n, baseGas: 1_000_000n, refundReceiver: ATTACKER }),
          wallet,
          state,
          assets,
        ),
      'GAS_REFUND',
    ],
    [
      'refund in a gas token',
      () => verifySafeTransaction(intent(), safeTx({ gasToken: TOKEN }), wallet, state, assets),
      'GAS_REFUND',
    ],
    [
      'other nonce (signature replay)',
      () => verifySafeTransaction(intent(), safeTx({ nonce: 8n }), wallet, state, assets),
      'NONCE_MISMATCH',
    ],
    [
      'RPC on another chain',
      () => verifySafeTransaction(intent(), safeTx(), wallet, { ...state, chainId: 1n }, assets),
      'CHAIN_MISMATCH',
    ],
    [
      'intent for another chain',
      () =>
        verifySafeTransaction(
          intent({ chain: 'eip155:1', asset: 'eip155:1/slip44:60' }),
          safeTx(),
          wallet,
          state,
          assets,
        ),
      'CHAIN_MISMATCH',
    ],
    [
      'intent for another wallet',
      () => verifySafeTransaction(intent({ wallet: 'other' }), safeTx(), wallet, state, assets),
      'WALLET_MISMATCH',
    ],
    [
      'masterCopy swapped in slot 0',
      () => verifySafeTransaction(intent(), safeTx(), wallet, { ...state, singleton: ATTACKER }, assets),
      'WALLET_CONFIG_CHANGED',
    ],
    [
      'owner added',
      () =>
        verifySafeTransaction(
          intent(),
          safeTx(),
          wallet,
          { ...state, owners: [...state.owners, ATTACKER] },
          assets,
        ),
      'WALLET_CONFIG_CHANGED',
    ],
    [
      'threshold lowered',
      () => verifySafeTransaction(intent(), safeTx(), wallet, { ...state, threshold: 1n }, assets),
      'WALLET_CONFIG_CHANGED',
    ],
    [
      'module enabled',
      () => verifySafeTransaction(intent(), safeTx(), wallet, { ...state, modules: [ATTACKER] }, assets),
      'WALLET_CONFIG_CHANGED',
    ],
    [
      'guard set',
      () => verifySafeTransaction(intent(), safeTx(), wallet, { ...state, guard: ATTACKER }, assets),
      'WALLET_CONFIG_CHANGED',
    ],
    [
      'fallback handler changed',
      () =>
        verifySafeTransaction(intent(), safeTx(), wallet, { ...state, fallbackHandler: ATTACKER }, assets),
      'WALLET_CONFIG_CHANGED',
    ],
  ];
  it.each(cases)('refuses: %s', (_n, run, expected) => {
    const r = run();
    expect(code(r)).toBe(expected);
    if (!r.ok) expect((r.details!.findings as { code: string }[]).map((f) => f.code)).toContain(expected);
  });

  it('lists every finding, most severe first', () => {
    const r = verifySafeTransaction(
      intent(),
      safeTx({ to: ATTACKER, operation: 1, gasPrice: 5n, nonce: 9n }),
      wallet,
      state,
      assets,
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect((r.details!.findings as { code: string }[]).map((f) => f.code)).toEqual([
        'DELEGATECALL',
        'GAS_REFUND',
        'DESTINATION_MISMATCH',
        'NONCE_MISMATCH',
      ]);
    }
  });
});

describe('selector table', () => {
  const vec = JSON.parse(
    readFileSync(
      new URL('../../../shared/vectors/ethereum/function_selectors_common.json', import.meta.url),
      'utf8',
    ),
  ) as { selectors: { selector: string; signature: string }[] };
  it('matches the shared selector vectors for every signature both list', () => {
    const bySig = new Map(vec.selectors.map((s) => [s.signature, s.selector]));
    let compared = 0;
    for (const [sel, info] of knownRiskySelectors()) {
      const expected = bySig.get(info.signature);
      if (expected) {
        expect(sel).toBe(expected);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(25);
  });
  it('classifies every admin/ownership/approval selector in the vectors', () => {
    const table = knownRiskySelectors();
    for (const s of vec.selectors) {
      if (
        /^(approve|increaseAllowance|permit|setApprovalForAll|transferOwnership|upgradeTo|addOwner|swapOwner|enableModule|setGuard|changeMasterCopy|sweep)/.test(
          s.signature,
        )
      ) {
        expect(table.has(s.selector), s.signature).toBe(true);
      }
    }
  });
});

describe('wallet config', () => {
  it('accepts a registered Safe and a hot wallet', () => {
    expect(parseEvmWallet(wallet).type).toBe('safe');
    expect(parseEvmWallet({ id: 'hot', chain: CHAIN, type: 'evm-hot', config: { address: DEST } }).type).toBe(
      'evm-hot',
    );
  });
  it.each([
    ['unknown field', { ...wallet.config, extra: 1 }, 'UNKNOWN_FIELD'],
    [
      'lowercase address',
      { ...wallet.config, address: wallet.config.owners[0]!.toLowerCase() },
      'INVALID_WALLET_CONFIG',
    ],
    ['threshold above owners', { ...wallet.config, threshold: 4 }, 'INVALID_WALLET_CONFIG'],
    ['a module', { ...wallet.config, modules: [ATTACKER] }, 'INVALID_WALLET_CONFIG'],
    ['unknown version', { ...wallet.config, version: '2.0.0' }, 'INVALID_WALLET_CONFIG'],
    ['duplicate owner', { ...wallet.config, owners: [DEST, DEST] }, 'INVALID_WALLET_CONFIG'],
  ])('refuses %s', (_n, config, c) => {
    expect(() => parseEvmWallet({ ...wallet, config })).toThrow(new RegExp(c));
  });
});
