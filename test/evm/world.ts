import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  type Account,
  type Chain,
  erc20Abi,
  getAddress,
  type Hex,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { signerAddress } from '../../src/core/chains/evm/sign.ts';
import type { Address } from '../../src/core/chains/evm/types.ts';
import type { AssetRegistry, SafeWallet } from '../../src/core/chains/evm/wallet-config.ts';
import type { Intent } from '../../src/core/intent/schema.ts';
import {
  createSafe,
  deployBytecode,
  deploySafeInfrastructure,
  deployTestErc20,
  type SafeInfrastructure,
} from '../../src/evm/deploy.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { memorySigner } from '../../src/keys/memory.ts';
import { type Anvil, startAnvil } from '../helpers/anvil.ts';

/**
 * A custody world on a real anvil chain: Safe 1.3.0 and 1.4.1 infrastructure, a test ERC-20,
 * two co-signer keys (memory signers — the test double of the keystore/HSM backends) plus an
 * offline recovery key as the owners of 2-of-3 Safes, a relayer, and an asset registry.
 */
export const CHAIN = 'eip155:31337';

/** Bybit-style backdoor: `transfer(address to, uint256)` writes `to` into storage slot 0.
 *  Solidity equivalent (hand-assembled below, no compiler needed):
 *    contract Backdoor { address masterCopy; function transfer(address to, uint256) external { masterCopy = to; } }
 *  runtime: PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR PUSH4 0xa9059cbb EQ PUSH1 0x10 JUMPI STOP
 *           JUMPDEST PUSH1 4 CALLDATALOAD PUSH1 0 SSTORE STOP
 *  init:    PUSH1 0x18 DUP1 PUSH1 0x0b PUSH1 0 CODECOPY PUSH1 0 RETURN */
export const BACKDOOR_BYTECODE =
  '0x601880600b6000396000f360003560e01c63a9059cbb14601057005b60043560005500' as Hex;

type Wallet = WalletClient<Transport, Chain, Account>;

export interface World {
  anvil: Anvil;
  deployer: Wallet;
  relayer: Wallet;
  infra: Record<'1.3.0' | '1.4.1', SafeInfrastructure>;
  token: Address;
  assets: AssetRegistry;
  cosigners: Secp256k1Signer[];
  /** raw keys of the co-signers, for "leaked key used outside Custos" attacks */
  cosignerKeys: Hex[];
  recoveryKey: Hex;
  owners: Address[];
  backdoor: Address;
  newSafe(id: string, version: '1.3.0' | '1.4.1', l2: boolean): Promise<SafeWallet>;
  intent(over: Partial<Intent>): Intent;
  stop(): Promise<void>;
}

const key = (): Hex => `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;
let intentCounter = 0;

export async function startWorld(): Promise<World> {
  const anvil = await startAnvil();
  const deployerKey = key();
  const relayerKey = key();
  const deployer = anvil.wallet(deployerKey);
  const relayer = anvil.wallet(relayerKey);
  await anvil.fund(deployer.account.address, 10n ** 24n);
  await anvil.fund(relayer.account.address, 10n ** 24n);
  const infra = {
    '1.3.0': await deploySafeInfrastructure(deployer, anvil.client, '1.3.0'),
    '1.4.1': await deploySafeInfrastructure(deployer, anvil.client, '1.4.1'),
  };
  const token = await deployTestErc20(deployer, anvil.client);
  const backdoor = await deployBytecode(deployer, anvil.client, [], BACKDOOR_BYTECODE);
  const cosignerKeys = [key(), key()];
  const cosigners = cosignerKeys.map((k, i) =>
    memorySigner(`cosigner-${i}`, Uint8Array.from(Buffer.from(k.slice(2), 'hex'))),
  );
  const recoveryKey = key();
  const owners = [
    ...(await Promise.all(cosigners.map((s) => signerAddress(s)))),
    privateKeyToAccount(recoveryKey).address,
  ].map((a) => getAddress(a));
  const assets: AssetRegistry = new Map([
    [`${CHAIN}/slip44:60`, { caip19: `${CHAIN}/slip44:60`, decimals: 18, symbol: 'ETH' }],
    [`${CHAIN}/erc20:${token}`, { caip19: `${CHAIN}/erc20:${token}`, decimals: 18, symbol: 'TT' }],
  ]);
  return {
    anvil,
    deployer,
    relayer,
    infra,
    token,
    assets,
    cosigners,
    cosignerKeys,
    recoveryKey,
    owners,
    backdoor,
    async newSafe(id, version, l2) {
      const config = await createSafe(deployer, anvil.client, infra[version], { owners, threshold: 2, l2 });
      await anvil.fund(config.address, 100n * 10n ** 18n);
      const hash = await deployer.writeContract({
        address: token,
        abi: erc20Abi,
        functionName: 'transfer',
        args: [config.address, 10n ** 12n],
      });
      await anvil.client.waitForTransactionReceipt({ hash });
      return { id, chain: CHAIN, type: 'safe', config };
    },
    intent(over) {
      intentCounter++;
      return {
        version: 1,
        id: `0b5f4a8e-4f3a-4c65-9a55-${intentCounter.toString(16).padStart(12, '0')}`,
        chain: CHAIN,
        asset: `${CHAIN}/slip44:60`,
        wallet: 'w',
        destination: getAddress(privateKeyToAccount(key()).address),
        amount: '1000000000000000000',
        reference: `W-${intentCounter}`,
        requestedBy: 'svc-backoffice',
        createdAt: '2026-01-01T00:00:00Z',
        expiresAt: '2026-01-02T00:00:00Z',
        ...over,
      };
    },
    stop: () => anvil.stop(),
  };
}
