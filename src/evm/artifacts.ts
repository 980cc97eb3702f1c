import { readFileSync } from 'node:fs';
import type { Abi, Hex } from 'viem';

/**
 * Safe contract artifacts from the pinned npm packages: 1.4.1 from @safe-global/safe-contracts and
 * 1.3.0 from the `safe-contracts-130` alias of @gnosis.pm/safe-contracts. Used to deploy Safes
 * on dev/test chains (anvil) and for their ABIs; production Safes are registered by address.
 */
export type DeployableSafeVersion = '1.3.0' | '1.4.1';

export interface Artifact {
  abi: Abi;
  bytecode: Hex;
  deployedBytecode: Hex;
}

const ROOT = new URL('../../node_modules/', import.meta.url);

const PATHS: Record<
  DeployableSafeVersion,
  Record<'singleton' | 'singletonL2' | 'factory' | 'fallbackHandler' | 'erc20', string>
> = {
  '1.4.1': {
    singleton: '@safe-global/safe-contracts/build/artifacts/contracts/Safe.sol/Safe.json',
    singletonL2: '@safe-global/safe-contracts/build/artifacts/contracts/SafeL2.sol/SafeL2.json',
    factory:
      '@safe-global/safe-contracts/build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json',
    fallbackHandler:
      '@safe-global/safe-contracts/build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
    erc20: '@safe-global/safe-contracts/build/artifacts/contracts/test/ERC20Token.sol/ERC20Token.json',
  },
  '1.3.0': {
    singleton: 'safe-contracts-130/build/artifacts/contracts/GnosisSafe.sol/GnosisSafe.json',
    singletonL2: 'safe-contracts-130/build/artifacts/contracts/GnosisSafeL2.sol/GnosisSafeL2.json',
    factory:
      'safe-contracts-130/build/artifacts/contracts/proxies/GnosisSafeProxyFactory.sol/GnosisSafeProxyFactory.json',
    fallbackHandler:
      'safe-contracts-130/build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json',
    erc20: 'safe-contracts-130/build/artifacts/contracts/test/ERC20Token.sol/ERC20Token.json',
  },
};

const cache = new Map<string, Artifact>();

export function safeArtifact(
  version: DeployableSafeVersion,
  name: 'singleton' | 'singletonL2' | 'factory' | 'fallbackHandler' | 'erc20',
): Artifact {
  const path = PATHS[version][name];
  let a = cache.get(path);
  if (!a) {
    const j = JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as Artifact;
    a = { abi: j.abi, bytecode: j.bytecode, deployedBytecode: j.deployedBytecode };
    cache.set(path, a);
  }
  return a;
}
