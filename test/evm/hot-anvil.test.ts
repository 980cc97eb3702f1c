import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { erc20Abi, serializeTransaction } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signerAddress, signHotTx } from '../../src/core/chains/evm/sign.ts';
import type { Hex } from '../../src/core/chains/evm/types.ts';
import { verifyHotTransaction } from '../../src/core/chains/evm/verify-hot.ts';
import type { HotWallet } from '../../src/core/chains/evm/wallet-config.ts';
import { broadcast } from '../../src/evm/broadcast.ts';
import { buildHotTransfer } from '../../src/evm/build.ts';
import { readHotChainState } from '../../src/evm/chain-state.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { CHAIN, startWorld, type World } from './world.ts';

let w: World;
let wallet: HotWallet;
const hotKey = secp256k1.utils.randomSecretKey();
const signer = memorySigner('hot-0', hotKey);

beforeAll(async () => {
  w = await startWorld();
  const address = await signerAddress(signer);
  wallet = { id: 'hot-1', chain: CHAIN, type: 'evm-hot', config: { address } };
  await w.anvil.fund(address, 10n ** 20n);
  const hash = await w.deployer.writeContract({
    address: w.token,
    abi: erc20Abi,
    functionName: 'transfer',
    args: [address, 10n ** 9n],
  });
  await w.anvil.client.waitForTransactionReceipt({ hash });
}, 120_000);
afterAll(async () => {
  await w?.stop();
});

const MAX_FEE = (10n ** 16n).toString(); // 0.01 ETH

describe('hot wallet (EIP-1559) on anvil', () => {
  it.each(['native', 'erc20'] as const)('%s transfer: build → verify → sign → broadcast', async (kind) => {
    const asset = kind === 'native' ? `${CHAIN}/slip44:60` : `${CHAIN}/erc20:${w.token}`;
    const intent = w.intent({
      wallet: wallet.id,
      asset,
      amount: kind === 'native' ? '2000000000000000000' : '777',
      maxFee: MAX_FEE,
    });
    const built = await buildHotTransfer(intent, wallet, w.anvil.client);
    const state = await readHotChainState(w.anvil.client, wallet.config.address);
    const v = verifyHotTransaction(intent, built.unsignedTx, wallet, state, w.assets);
    expect(v.ok, v.ok ? '' : `${v.code} ${v.message}`).toBe(true);
    const signed = await signHotTx(built.unsignedTx, signer);
    const dest = intent.destination as Hex;
    const before = kind === 'native' ? await w.anvil.client.getBalance({ address: dest }) : 0n;
    const b = await broadcast(w.anvil.client, signed, { expectedFrom: wallet.config.address });
    expect(b.status).toBe('success');
    const after =
      kind === 'native'
        ? await w.anvil.client.getBalance({ address: dest })
        : await w.anvil.client.readContract({
            address: w.token,
            abi: erc20Abi,
            functionName: 'balanceOf',
            args: [dest],
          });
    expect(after - before).toBe(BigInt(intent.amount));
  });

  it('refuses a fee cap above the intent’s maxFee, a swapped destination, a stale nonce and another chain', async () => {
    const intent = w.intent({ wallet: wallet.id, maxFee: MAX_FEE });
    const built = await buildHotTransfer(intent, wallet, w.anvil.client);
    const state = await readHotChainState(w.anvil.client, wallet.config.address);
    const base = {
      type: 'eip1559' as const,
      chainId: 31337,
      nonce: Number(built.nonce),
      to: intent.destination as Hex,
      value: BigInt(intent.amount),
      gas: built.gas,
      maxFeePerGas: built.maxFeePerGas,
      maxPriorityFeePerGas: built.maxPriorityFeePerGas,
    };
    const check = (over: Partial<typeof base>) => {
      const r = verifyHotTransaction(
        intent,
        serializeTransaction({ ...base, ...over }),
        wallet,
        state,
        w.assets,
      );
      return r.ok ? 'SIGNED' : r.code;
    };
    expect(check({})).toBe('SIGNED');
    expect(check({ maxFeePerGas: 10n ** 13n, maxPriorityFeePerGas: 10n ** 9n })).toBe('FEE_ABOVE_MAX');
    expect(check({ to: `0x${bytesToHex(secp256k1.utils.randomSecretKey()).slice(0, 40)}` as Hex })).toBe(
      'DESTINATION_MISMATCH',
    );
    expect(check({ value: 1n })).toBe('AMOUNT_MISMATCH');
    expect(check({ nonce: base.nonce + 1 })).toBe('NONCE_MISMATCH');
    expect(check({ chainId: 1 })).toBe('CHAIN_MISMATCH');
    const noMax = verifyHotTransaction(
      { ...intent, maxFee: undefined },
      serializeTransaction(base),
      wallet,
      state,
      w.assets,
    );
    expect(noMax.ok ? 'SIGNED' : noMax.code).toBe('FEE_ABOVE_MAX');
  });

  it('builder refuses when the base fee cannot fit under maxFee', async () => {
    const intent = w.intent({ wallet: wallet.id, maxFee: '1000' });
    await expect(buildHotTransfer(intent, wallet, w.anvil.client)).rejects.toThrow(/FEE_ABOVE_MAX/);
  });
});
