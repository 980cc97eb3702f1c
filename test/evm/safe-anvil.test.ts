import { encodeFunctionData, erc20Abi, parseAbi } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSafeTx } from '../../src/core/chains/evm/sign.ts';
import type { SafeTxFields } from '../../src/core/chains/evm/types.ts';
import { verifySafeTransaction } from '../../src/core/chains/evm/verify-safe.ts';
import type { SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import type { Intent } from '../../src/core/intent/schema.ts';
import { buildSafeTransfer } from '../../src/evm/build.ts';
import { readSafeChainState } from '../../src/evm/chain-state.ts';
import { executeSafeTransaction, type OwnerSignature, packSafeSignatures } from '../../src/evm/execute.ts';
import { verifySafeRegistration } from '../../src/evm/registration.ts';
import { CHAIN, startWorld, type World } from './world.ts';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 120_000);
afterAll(async () => {
  await w?.stop();
});

/** What each co-signer does: read its own chain state, verify, sign the typed data it built. */
async function cosign(intent: Intent, tx: SafeTxFields, wallet: SafeWallet) {
  const out: OwnerSignature[] = [];
  let safeTxHash = '0x' as `0x${string}`;
  for (const signer of w.cosigners) {
    const state = await readSafeChainState(w.anvil.client, wallet.config.address);
    const r = verifySafeTransaction(intent, tx, wallet, state, w.assets);
    if (!r.ok) return r;
    const s = await signSafeTx(r.value.typedData, signer);
    expect(s.safeTxHash).toBe(r.value.safeTxHash);
    out.push({ owner: s.owner, signature: s.signature });
    safeTxHash = r.value.safeTxHash;
  }
  return { ok: true as const, signatures: out, safeTxHash };
}

describe.each([
  ['1.3.0', false],
  ['1.3.0', true],
  ['1.4.1', false],
  ['1.4.1', true],
] as const)('2-of-3 Safe %s (L2: %s) on anvil', (version, l2) => {
  let wallet: SafeWallet;
  beforeAll(async () => {
    wallet = await w.newSafe(`safe-${version}-${l2}`, version, l2);
  }, 60_000);

  it('registered config matches the chain, including slot 0', async () => {
    const state = await readSafeChainState(w.anvil.client, wallet.config.address);
    expect(state.singleton).toBe(wallet.config.singleton);
    expect(state.threshold).toBe(2n);
    expect(new Set(state.owners)).toEqual(new Set(w.owners));
    expect(state.fallbackHandler).toBe(wallet.config.fallbackHandler);
  });

  it('registration check: the chain agrees with the registered config and version', async () => {
    expect(await verifySafeRegistration(w.anvil.client, wallet)).toEqual({ ok: true, value: undefined });
    const wrongVersion = {
      ...wallet,
      config: { ...wallet.config, version: version === '1.3.0' ? '1.4.1' : '1.3.0' },
    };
    expect(await verifySafeRegistration(w.anvil.client, wrongVersion)).toMatchObject({
      ok: false,
      code: 'SAFE_VERSION_MISMATCH',
    });
    const wrongOwners = {
      ...wallet,
      config: { ...wallet.config, owners: [...wallet.config.owners.slice(0, 2), w.deployer.account.address] },
    };
    expect(await verifySafeRegistration(w.anvil.client, wrongOwners)).toMatchObject({
      ok: false,
      code: 'WALLET_CONFIG_CHANGED',
    });
    const otherChain = { ...wallet, chain: 'eip155:1' };
    expect(await verifySafeRegistration(w.anvil.client, otherChain)).toMatchObject({
      ok: false,
      code: 'CHAIN_MISMATCH',
    });
  });

  it('ETH transfer: build → verify → sign (EIP-712) → execute, balance checked', async () => {
    const intent = w.intent({ wallet: wallet.id, amount: '1500000000000000000' });
    const tx = await buildSafeTransfer(intent, wallet, w.anvil.client);
    const signed = await cosign(intent, tx, wallet);
    expect(signed.ok).toBe(true);
    if (!signed.ok) return;
    const exec = await executeSafeTransaction(
      { safe: wallet.config.address, fields: tx, safeTxHash: signed.safeTxHash },
      signed.signatures,
      w.relayer,
      w.anvil.client,
      { recipient: intent.destination as `0x${string}`, amount: 1_500_000_000_000_000_000n },
    );
    expect(exec.balanceAfter! - exec.balanceBefore!).toBe(1_500_000_000_000_000_000n);
  });

  it('ERC-20 transfer end to end', async () => {
    const intent = w.intent({ wallet: wallet.id, asset: `${CHAIN}/erc20:${w.token}`, amount: '12345' });
    const tx = await buildSafeTransfer(intent, wallet, w.anvil.client);
    expect(tx.to).toBe(w.token);
    const signed = await cosign(intent, tx, wallet);
    if (!signed.ok) throw new Error(signed.code);
    const exec = await executeSafeTransaction(
      { safe: wallet.config.address, fields: tx, safeTxHash: signed.safeTxHash },
      signed.signatures,
      w.relayer,
      w.anvil.client,
      { token: w.token, recipient: intent.destination as `0x${string}`, amount: 12345n },
    );
    expect(exec.balanceAfter).toBe(12345n);
  });
});

describe('attacks on a 2-of-3 Safe 1.4.1', () => {
  let wallet: SafeWallet;
  beforeAll(async () => {
    wallet = await w.newSafe('safe-attacks', '1.4.1', false);
  }, 60_000);
  const attacker = privateKeyToAccount(
    '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  ).address;

  async function refusal(intent: Intent, tamper: (tx: SafeTxFields) => SafeTxFields) {
    const tx = tamper(await buildSafeTransfer(intent, wallet, w.anvil.client));
    const r = await cosign(intent, tx, wallet);
    return r.ok ? 'SIGNED' : r.code;
  }

  it('destination swapped at the coordinator after approval', async () => {
    expect(await refusal(w.intent({ wallet: wallet.id }), (t) => ({ ...t, to: attacker }))).toBe(
      'DESTINATION_MISMATCH',
    );
  });
  it('amount changed', async () => {
    expect(await refusal(w.intent({ wallet: wallet.id }), (t) => ({ ...t, value: t.value * 10n }))).toBe(
      'AMOUNT_MISMATCH',
    );
  });
  it('ERC-20 recipient swapped inside the calldata', async () => {
    const intent = w.intent({ wallet: wallet.id, asset: `${CHAIN}/erc20:${w.token}`, amount: '10' });
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [attacker, 10n] });
    expect(await refusal(intent, (t) => ({ ...t, data }))).toBe('DESTINATION_MISMATCH');
  });
  it('Bybit: delegatecall to a contract whose transfer(address,uint256) writes slot 0', async () => {
    const intent = w.intent({ wallet: wallet.id, asset: `${CHAIN}/erc20:${w.token}`, amount: '1' });
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [attacker, 1n] });
    expect(await refusal(intent, (t) => ({ ...t, to: w.backdoor, data, operation: 1 }))).toBe('DELEGATECALL');
  });
  it('Radiant: transferOwnership on another contract with operation 0', async () => {
    const data = encodeFunctionData({
      abi: parseAbi(['function transferOwnership(address)']),
      args: [attacker],
    });
    expect(
      await refusal(w.intent({ wallet: wallet.id }), (t) => ({ ...t, to: w.token, value: 0n, data })),
    ).toBe('PRIVILEGED_CALL');
  });
  it('addOwnerWithThreshold on the Safe itself', async () => {
    const data = encodeFunctionData({
      abi: parseAbi(['function addOwnerWithThreshold(address,uint256)']),
      args: [attacker, 1n],
    });
    expect(
      await refusal(w.intent({ wallet: wallet.id }), (t) => ({
        ...t,
        to: wallet.config.address,
        value: 0n,
        data,
      })),
    ).toBe('SELF_CALL');
  });
  it('ERC-20 approve to the attacker', async () => {
    const intent = w.intent({ wallet: wallet.id, asset: `${CHAIN}/erc20:${w.token}`, amount: '10' });
    const data = encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [attacker, 10n ** 30n] });
    expect(await refusal(intent, (t) => ({ ...t, data }))).toBe('TOKEN_APPROVAL');
  });
  it('gas-refund drain (gasPrice, baseGas, refundReceiver = attacker)', async () => {
    expect(
      await refusal(w.intent({ wallet: wallet.id }), (t) => ({
        ...t,
        baseGas: 10n ** 6n,
        gasPrice: 10n ** 12n,
        refundReceiver: attacker,
      })),
    ).toBe('GAS_REFUND');
  });
  it('signing ahead at another nonce is refused', async () => {
    expect(await refusal(w.intent({ wallet: wallet.id }), (t) => ({ ...t, nonce: t.nonce + 1n }))).toBe(
      'NONCE_MISMATCH',
    );
  });
  it('a replayed signature at another nonce does not execute on chain', async () => {
    const intent = w.intent({ wallet: wallet.id, amount: '1000' });
    const tx = await buildSafeTransfer(intent, wallet, w.anvil.client);
    const signed = await cosign(intent, tx, wallet);
    if (!signed.ok) throw new Error(signed.code);
    await executeSafeTransaction(
      { safe: wallet.config.address, fields: tx, safeTxHash: signed.safeTxHash },
      signed.signatures,
      w.relayer,
      w.anvil.client,
    );
    // Same signatures, same fields, next nonce: the Safe recovers other addresses (GS026).
    const replay = { ...tx, nonce: tx.nonce + 1n };
    const { computeSafeTxHashes, parseSafeVersion } = await import('../../src/core/chains/evm/safe-hash.ts');
    const h = computeSafeTxHashes(
      parseSafeVersion('1.4.1'),
      31337n,
      wallet.config.address,
      replay,
    ).safeTxHash;
    await expect(
      executeSafeTransaction(
        { safe: wallet.config.address, fields: replay, safeTxHash: h },
        signed.signatures,
        w.relayer,
        w.anvil.client,
      ),
    ).rejects.toThrow(/GS026|revert/);
  });
  it('signatures for one Safe do not execute on another Safe with the same owners and nonce', async () => {
    const twin = await w.newSafe('safe-twin', '1.4.1', false);
    const fresh = await w.newSafe('safe-fresh', '1.4.1', false);
    const intent = w.intent({ wallet: fresh.id, amount: '1000' });
    const tx = await buildSafeTransfer(intent, fresh, w.anvil.client);
    const signed = await cosign(intent, tx, fresh);
    if (!signed.ok) throw new Error(signed.code);
    // The EIP-712 domain binds verifyingContract: on the twin the same fields hash differently.
    const { computeSafeTxHashes, parseSafeVersion } = await import('../../src/core/chains/evm/safe-hash.ts');
    const h = computeSafeTxHashes(parseSafeVersion('1.4.1'), 31337n, twin.config.address, tx).safeTxHash;
    expect(h).not.toBe(signed.safeTxHash);
    await expect(
      executeSafeTransaction(
        { safe: twin.config.address, fields: tx, safeTxHash: h },
        signed.signatures,
        w.relayer,
        w.anvil.client,
      ),
    ).rejects.toThrow(/GS026|revert/);
  });

  it('executor: signatures are packed in owner order, duplicates refused, a wrong hash never submitted', async () => {
    const intent = w.intent({ wallet: wallet.id, amount: '1000' });
    const tx = await buildSafeTransfer(intent, wallet, w.anvil.client);
    const signed = await cosign(intent, tx, wallet);
    if (!signed.ok) throw new Error(signed.code);
    const [a, b] = signed.signatures as [OwnerSignature, OwnerSignature];
    const packed = packSafeSignatures([b, a]);
    const [lo, hi] = BigInt(a.owner) < BigInt(b.owner) ? [a, b] : [b, a];
    expect(packed).toBe(`${lo.signature}${hi.signature.slice(2)}`);
    expect(() => packSafeSignatures([a, a])).toThrow(/DUPLICATE_SIGNER/);
    const other = { ...tx, value: tx.value + 1n };
    await expect(
      executeSafeTransaction(
        { safe: wallet.config.address, fields: other, safeTxHash: signed.safeTxHash },
        [b, a],
        w.relayer,
        w.anvil.client,
      ),
    ).rejects.toThrow(/SAFE_TX_HASH_MISMATCH/);
    // Given in reverse owner order, the executor still submits a valid execution.
    const exec = await executeSafeTransaction(
      { safe: wallet.config.address, fields: tx, safeTxHash: signed.safeTxHash },
      [hi, lo],
      w.relayer,
      w.anvil.client,
    );
    expect(exec.safeTxHash).toBe(signed.safeTxHash);
  });

  it('a changed wallet configuration on chain blocks signing', async () => {
    const other = await w.newSafe('safe-cfg', '1.4.1', false);
    // Owners (leaked keys, outside Custos) change the threshold to 1.
    const data = encodeFunctionData({ abi: parseAbi(['function changeThreshold(uint256)']), args: [1n] });
    const state = await readSafeChainState(w.anvil.client, other.config.address);
    const fields: SafeTxFields = {
      to: other.config.address,
      value: 0n,
      data,
      operation: 0,
      safeTxGas: 0n,
      baseGas: 0n,
      gasPrice: 0n,
      gasToken: '0x0000000000000000000000000000000000000000',
      refundReceiver: '0x0000000000000000000000000000000000000000',
      nonce: state.nonce,
    };
    const { computeSafeTxHashes, parseSafeVersion } = await import('../../src/core/chains/evm/safe-hash.ts');
    const h = computeSafeTxHashes(parseSafeVersion('1.4.1'), 31337n, other.config.address, fields).safeTxHash;
    const sigs = await Promise.all(
      [w.cosignerKeys[0]!, w.recoveryKey].map(async (k) => ({
        owner: privateKeyToAccount(k).address,
        signature: await privateKeyToAccount(k).sign({ hash: h }),
      })),
    );
    await executeSafeTransaction(
      { safe: other.config.address, fields, safeTxHash: h },
      sigs,
      w.relayer,
      w.anvil.client,
    );
    const intent = w.intent({ wallet: other.id });
    const tx = await buildSafeTransfer(intent, other, w.anvil.client);
    const r = await cosign(intent, tx, other);
    expect(r.ok ? 'SIGNED' : r.code).toBe('WALLET_CONFIG_CHANGED');
  });
});
