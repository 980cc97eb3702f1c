import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createSafe, deploySafeInfrastructure, deployTestErc20, receiptOf } from '../../evm/deploy.ts';

/**
 * The EVM side of `custos up` on anvil: Safe 1.4.1 infrastructure, `safes` 2-of-3 Safes owned by
 * the two co-signer keys plus an offline recovery key (1000 ETH each), and a test ERC-20 (TT) of
 * which each Safe holds 10^14 base units. The relayer key pays for everything.
 */
export async function deployDemoEvm(o: {
  anvilRpc: string;
  chainId: number;
  relayer: Hex;
  owners: [Hex, Hex];
  safes: number;
}) {
  const viemChain = defineChain({
    id: o.chainId,
    name: `eip155:${o.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [o.anvilRpc] } },
  });
  // anvil mines on arrival: look for receipts every 20 ms, not viem's default 4 s (which made
  // deploying a hundred Safes take minutes).
  const client = createPublicClient({
    chain: viemChain,
    transport: http(o.anvilRpc),
    pollingInterval: 20,
  }) as PublicClient<Transport, Chain>;
  const account = privateKeyToAccount(o.relayer);
  const wallet = createWalletClient({
    account,
    chain: viemChain,
    transport: http(o.anvilRpc),
  }) as WalletClient<Transport, Chain, Account>;
  await rpc(o.anvilRpc, 'anvil_setBalance', [account.address, `0x${(10n ** 24n).toString(16)}`]);
  const infra = await deploySafeInfrastructure(wallet, client, '1.4.1');
  const recovery = privateKeyToAccount(`0x${bytesToHex(secp256k1.utils.randomSecretKey())}`).address;
  const safes: Awaited<ReturnType<typeof createSafe>>[] = [];
  for (let n = 0; n < o.safes; n++) {
    const safe = await createSafe(wallet, client, infra, { owners: [...o.owners, recovery], threshold: 2 });
    await rpc(o.anvilRpc, 'anvil_setBalance', [safe.address, `0x${(1000n * 10n ** 18n).toString(16)}`]);
    safes.push(safe);
  }
  const token = await deployTestErc20(wallet, client);
  // The test token's whole supply sits with the deployer: 10^14 base units per Safe, or an equal
  // share of what there is when many Safes are deployed (benchmarks).
  const supply = await client.readContract({
    address: token,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [account.address],
  });
  const share =
    supply / BigInt(safes.length + 1) < 10n ** 14n ? supply / BigInt(safes.length + 1) : 10n ** 14n;
  for (const s of safes) {
    const h = await wallet.writeContract({
      address: token,
      abi: erc20Abi,
      functionName: 'transfer',
      args: [s.address, share],
    });
    await receiptOf(client, h);
  }
  return { safes, token, relayerAddress: account.address };
}

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}
