import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { HDKey } from '@scure/bip32';
import { p2wpkh } from '@scure/btc-signer';
import { REGTEST_GENESIS_HASH } from '../../bitcoin/regtest-block.ts';
import { BitcoinCoreRpc } from '../../bitcoin/rpc.ts';
import { bitcoinNetwork } from '../../core/chains/address.ts';
import { withChecksum } from '../../core/chains/bitcoin/descriptor/checksum.ts';
import { deriveOutput } from '../../core/chains/bitcoin/descriptor/derive.ts';
import { splitMultipath } from '../../core/chains/bitcoin/descriptor/multipath.ts';
import { parseBitcoinWallet } from '../../core/chains/bitcoin/wallet.ts';
import type { WalletRecord } from '../../core/governance/types.ts';

/**
 * The `custos up` Bitcoin wallet: a 2-of-3 `sh(wsh(sortedmulti(2,…)))` regtest descriptor wallet
 * (DMM Bitcoin's shape) whose keys are the two co-signers' BIP 48 account keys plus an offline
 * recovery key, imported watch-only into the coordinator's node wallet and funded from the node's
 * faucet wallet (the local simulator's faucet, or a funded wallet of a real `bitcoind -regtest`).
 */
export const REGTEST_CHAIN = `bip122:${REGTEST_GENESIS_HASH.slice(0, 32)}`;
export const REGTEST_ASSET = `${REGTEST_CHAIN}/slip44:1`;
export const BTC_WALLET_ID = 'btc-1';
/** BIP 48 multisig account, testnet coin type 1', script type 1' (P2SH-P2WSH). */
export const BTC_ACCOUNT_PATH = "m/48'/1'/0'/1'";
/** The co-signers' EVM key inside the same seed (the Safe owner). */
export const EVM_KEY_PATH = "m/44'/60'/0'/0/0";
/** Watch-only wallet the coordinator reads (listunspent, gettransaction). */
export const CUSTODY_NODE_WALLET = 'custody';
/** Wallet that pays the demo funding (sendmany). */
export const FAUCET_NODE_WALLET = 'faucet';
/** Funding of the custody wallet: one UTXO per receive index 0…4 (sat). */
export const DEMO_FUNDING_SAT = [100_000_000n, 50_000_000n, 30_000_000n, 20_000_000n, 500_000_000n];

/** Receive/change indexes the coordinator maps and the watchtower watches (kept small: fast). */
export const BTC_SCAN_UP_TO = 30;

export interface BitcoinNodeAccess {
  url: string;
  auth: { username: string; password: string };
}

/** What `custos up` records about its Bitcoin wallet (in demo-credentials.json). */
export interface LocalBitcoin {
  chain: string;
  asset: string;
  wallet: string;
  descriptor: string;
  /** The next unused receive address of the wallet (indexes 0…4 hold the demo funding). */
  receiveAddress: string;
  fundingTxid: string;
  node: BitcoinNodeAccess & { custodyWallet: string };
  destinations: { label: string; address: string }[];
}

const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };

/** `[fingerprint/48h/1h/0h/1h]tpub…/<0;1>/*` of a BIP 32 seed (the descriptor's key expression). */
export function multisigKeyExpression(seed: Uint8Array): string {
  const root = HDKey.fromMasterSeed(seed, TEST_VERSIONS);
  const fp = root.fingerprint.toString(16).padStart(8, '0');
  const account = root.derive(BTC_ACCOUNT_PATH);
  const origin = BTC_ACCOUNT_PATH.slice(2).replaceAll("'", 'h');
  const expr = `[${fp}/${origin}]${account.publicExtendedKey}/<0;1>/*`;
  root.wipePrivateData();
  account.wipePrivateData();
  return expr;
}

/** Compressed public key at the EVM path of a seed (the Safe owner's address is derived from it). */
export function evmPublicKey(seed: Uint8Array): Uint8Array {
  return HDKey.fromMasterSeed(seed).derive(EVM_KEY_PATH).publicKey!;
}

export function demoBitcoinWalletConfig(keyExpressions: string[]) {
  return {
    network: 'regtest' as const,
    descriptor: withChecksum(`sh(wsh(sortedmulti(2,${keyExpressions.join(',')})))`),
    feeRateCeilingSatVb: 100,
    threshold: 2,
  };
}

/** Regtest bech32 address-book destinations (P2WPKH of fixed demo keys nobody uses for custody). */
/** A regtest P2WPKH address of a fixed demo key (derived from `tag`). */
export function demoAddress(tag: string): string {
  const key = sha256(new TextEncoder().encode(tag));
  return p2wpkh(secp256k1.getPublicKey(key, true), bitcoinNetwork('regtest')).address!;
}

export function demoBitcoinDestinations(): { label: string; address: string }[] {
  return [
    { label: 'Exchange hot wallet (BTC)', address: demoAddress('custos-demo-btc-hot') },
    { label: 'Cold storage (BTC)', address: demoAddress('custos-demo-btc-cold') },
  ];
}

/**
 * Imports the wallet's receive and change descriptors watch-only into the node's custody wallet,
 * pays DEMO_FUNDING_SAT to receive indexes 0…4 from the faucet wallet and mines one block over it
 * (the simulator already mined it; a real regtest node needs it). Returns the funding txid.
 */
export async function provisionBitcoinWallet(
  node: BitcoinNodeAccess,
  config: ReturnType<typeof demoBitcoinWalletConfig>,
  scanUpTo: number,
): Promise<{ txid: string; receiveAddress: string }> {
  const w = parseBitcoinWallet(config);
  const custody = new BitcoinCoreRpc({ url: node.url, auth: node.auth, wallet: CUSTODY_NODE_WALLET });
  const faucet = new BitcoinCoreRpc({ url: node.url, auth: node.auth, wallet: FAUCET_NODE_WALLET });
  const [receive, change] = splitMultipath(config.descriptor);
  await custody.importDescriptors(receive, change, [0, scanUpTo]);
  const to: Record<string, number> = {};
  DEMO_FUNDING_SAT.forEach((sat, i) => {
    to[deriveOutput(w, 'receive', i).address] = Number(sat) / 1e8;
  });
  const txid = await faucet.call<string>('sendmany', ['', to], true);
  const receiveAddress = deriveOutput(w, 'receive', DEMO_FUNDING_SAT.length).address;
  // The block's coinbase goes to a throw-away address: an immature coinbase in the custody
  // wallet would be selected as an input and refused by the node.
  await custody.call('generatetoaddress', [1, demoAddress('custos-demo-miner')]);
  return { txid, receiveAddress };
}

/**
 * The wallet for `custos up`: the co-signers' key expressions plus a fresh offline recovery key
 * (its seed is dropped at once: demo only), provisioned on the node; the bundle's wallet record.
 */
export async function setupBitcoinWallet(
  node: BitcoinNodeAccess,
  cosignerKeys: string[],
): Promise<{ local: LocalBitcoin; record: WalletRecord }> {
  const recoverySeed = new Uint8Array(randomBytes(32));
  const config = demoBitcoinWalletConfig([...cosignerKeys, multisigKeyExpression(recoverySeed)]);
  recoverySeed.fill(0);
  const funded = await provisionBitcoinWallet(node, config, BTC_SCAN_UP_TO);
  return {
    local: {
      chain: REGTEST_CHAIN,
      asset: REGTEST_ASSET,
      wallet: BTC_WALLET_ID,
      descriptor: config.descriptor,
      receiveAddress: funded.receiveAddress,
      fundingTxid: funded.txid,
      node: { ...node, custodyWallet: CUSTODY_NODE_WALLET },
      destinations: demoBitcoinDestinations(),
    },
    record: { id: BTC_WALLET_ID, chain: REGTEST_CHAIN, type: 'bitcoin-descriptor', config },
  };
}

/** The coordinator's `chains.bitcoin` section (`credentialsFile` holds user:password, 0600). */
export function coordinatorBitcoinSection(b: LocalBitcoin, credentialsFile: string) {
  return {
    [b.chain]: {
      node: {
        kind: 'core-rpc',
        url: b.node.url,
        credentials: { file: credentialsFile },
        wallet: b.node.custodyWallet,
      },
      scanUpTo: BTC_SCAN_UP_TO,
      watch: { pollMs: 500 },
    },
  };
}
