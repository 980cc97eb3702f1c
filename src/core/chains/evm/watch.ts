import type { Address, Hex } from './types.ts';
import type { EvmWallet } from './wallet-config.ts';
import {
  CONFIG_EVENTS,
  EXECUTION_FAILURE_TOPIC,
  EXECUTION_SUCCESS_TOPIC,
  MODULE_FAILURE_TOPIC,
  MODULE_SUCCESS_TOPIC,
  TRANSFER_TOPIC,
} from './watch-events.ts';

/**
 * Watchtower matching (invariant I7), pure: given one block's transactions and logs, the custody
 * wallets, slot 0 of the Safes the block touched, and a lookup of what Custos signed, return the
 * alerts. A leaked key used outside Custos (T9) shows up here in the first block that carries it:
 *  - any transaction FROM a hot wallet that Custos did not broadcast;
 *  - any ERC-20 Transfer FROM a custody address not explained by a known tx or known Safe execution;
 *  - any Safe ExecutionSuccess/ExecutionFailure whose safeTxHash no co-signer signed, and any
 *    module execution (no modules are registered);
 *  - any Safe configuration event (owners, threshold, modules, guards, fallback handler, masterCopy);
 *  - slot 0 of a touched Safe differing from the registered singleton (the Bybit delegatecall
 *    wrote slot 0 without any configuration event).
 */
export interface WatchTx {
  hash: Hex;
  from: Address;
  to: Address | null;
  value: bigint;
  nonce: bigint;
}
export interface WatchLog {
  address: Address;
  topics: readonly Hex[];
  data: Hex;
  transactionHash: Hex;
  logIndex: number;
}
export interface WatchBlock {
  number: bigint;
  hash: Hex;
  parentHash: Hex;
  transactions: readonly WatchTx[];
  logs: readonly WatchLog[];
}

export type EvmAlertCode = 'UNMATCHED_OUTFLOW' | 'WALLET_CONFIG_CHANGE';

export interface EvmAlert {
  severity: 'critical';
  code: EvmAlertCode;
  chain: string;
  wallet: string;
  txHash: Hex | null;
  block: { number: bigint; hash: Hex };
  details: Record<string, unknown>;
}

/** What Custos signed: tx hashes it broadcast or relayed, and safeTxHashes its co-signers signed. */
export interface MatchLookup {
  isKnownTx(hash: Hex): boolean;
  isKnownSafeTx(walletId: string, safeTxHash: Hex): boolean;
}

/** Hashes a block asks the lookup about, so a store-backed lookup can fetch them in one query first. */
export interface MatchCandidates {
  txHashes: Hex[];
  safeTxs: { wallet: string; safeTxHash: Hex }[];
}

/** Lowercase address → wallet; built once, shared by every block. */
export interface CustodyIndex {
  chain: string;
  byAddress: ReadonlyMap<string, EvmWallet>;
  safes: ReadonlyMap<string, EvmWallet & { type: 'safe' }>;
}

export function buildCustodyIndex(chain: string, wallets: readonly EvmWallet[]): CustodyIndex {
  const byAddress = new Map<string, EvmWallet>();
  const safes = new Map<string, EvmWallet & { type: 'safe' }>();
  for (const w of wallets) {
    if (w.chain !== chain) continue;
    const a = w.config.address.toLowerCase();
    byAddress.set(a, w);
    if (w.type === 'safe') safes.set(a, w);
  }
  return { chain, byAddress, safes };
}

/** Safes a block touched (emitted a log or were called directly): their slot 0 must be re-read. */
export function touchedSafes(block: WatchBlock, index: CustodyIndex): Address[] {
  const out = new Set<string>();
  for (const l of block.logs) {
    const a = l.address.toLowerCase();
    if (index.safes.has(a)) out.add(a);
  }
  for (const t of block.transactions) {
    const a = t.to?.toLowerCase();
    if (a && index.safes.has(a)) out.add(a);
  }
  return [...out].map((a) => index.safes.get(a)!.config.address);
}

/** Every tx hash and (wallet, safeTxHash) that {@link matchBlock} may look up for this block. */
export function matchCandidates(block: WatchBlock, index: CustodyIndex): MatchCandidates {
  const txHashes = new Set<Hex>();
  const safeTxs: MatchCandidates['safeTxs'] = [];
  for (const t of block.transactions) if (index.byAddress.has(t.from.toLowerCase())) txHashes.add(t.hash);
  for (const l of block.logs) {
    const safe = index.safes.get(l.address.toLowerCase());
    const t0 = l.topics[0];
    if (safe && (t0 === EXECUTION_SUCCESS_TOPIC || t0 === EXECUTION_FAILURE_TOPIC)) {
      safeTxs.push({
        wallet: safe.id,
        safeTxHash: (l.topics.length > 1 ? l.topics[1] : l.data.slice(0, 66)) as Hex,
      });
    }
    if (t0 === TRANSFER_TOPIC && l.topics.length === 3) {
      const from = topicAddress(l.topics[1]);
      if (from && index.byAddress.has(from)) txHashes.add(l.transactionHash);
    }
  }
  return { txHashes: [...txHashes], safeTxs };
}

const topicAddress = (t: Hex | undefined) =>
  t && t.length === 66 ? `0x${t.slice(26)}`.toLowerCase() : undefined;

export function matchBlock(
  block: WatchBlock,
  index: CustodyIndex,
  lookup: MatchLookup,
  /** slot 0 of touched Safes at this block (lowercase address → address) */
  singletons: ReadonlyMap<string, Address> = new Map(),
): EvmAlert[] {
  const alerts: EvmAlert[] = [];
  const at = { number: block.number, hash: block.hash };
  const alert = (
    code: EvmAlertCode,
    wallet: EvmWallet,
    txHash: Hex | null,
    details: Record<string, unknown>,
  ) =>
    alerts.push({
      severity: 'critical',
      code,
      chain: index.chain,
      wallet: wallet.id,
      txHash,
      block: at,
      details,
    });

  // 1. Transactions sent by hot wallets.
  for (const t of block.transactions) {
    const w = index.byAddress.get(t.from.toLowerCase());
    if (w && !lookup.isKnownTx(t.hash)) {
      alert('UNMATCHED_OUTFLOW', w, t.hash, {
        kind: 'transaction',
        from: t.from,
        to: t.to,
        value: t.value.toString(),
        nonce: t.nonce.toString(),
      });
    }
  }

  // 2. Safe executions first, so token transfers inside a known execution are explained.
  const explainedTx = new Set<string>();
  const lastTouch = new Map<string, Hex>();
  for (const l of block.logs) {
    const safeKey = l.address.toLowerCase();
    const safe = index.safes.get(safeKey);
    if (!safe) continue;
    lastTouch.set(safeKey, l.transactionHash);
    const t0 = l.topics[0];
    if (t0 === EXECUTION_SUCCESS_TOPIC || t0 === EXECUTION_FAILURE_TOPIC) {
      // 1.4.1: txHash is topic 1; 1.3.0: first data word.
      const safeTxHash = (l.topics.length > 1 ? l.topics[1] : l.data.slice(0, 66)) as Hex;
      if (lookup.isKnownSafeTx(safe.id, safeTxHash)) {
        // explains transfers out of THIS Safe in this transaction only
        explainedTx.add(`${l.transactionHash}:${safeKey}`);
      } else {
        alert('UNMATCHED_OUTFLOW', safe, l.transactionHash, {
          kind: 'safe-execution',
          safeTxHash,
          success: t0 === EXECUTION_SUCCESS_TOPIC,
        });
      }
    } else if (t0 === MODULE_SUCCESS_TOPIC || t0 === MODULE_FAILURE_TOPIC) {
      alert('UNMATCHED_OUTFLOW', safe, l.transactionHash, {
        kind: 'module-execution',
        module: topicAddress(l.topics[1]),
      });
    } else if (t0 !== undefined && CONFIG_EVENTS.has(t0)) {
      alert('WALLET_CONFIG_CHANGE', safe, l.transactionHash, {
        event: CONFIG_EVENTS.get(t0),
        topics: l.topics,
        data: l.data,
      });
    }
  }

  // 3. ERC-20 transfers out of any custody address (3 topics: ERC-721 Transfer has 4).
  for (const l of block.logs) {
    if (l.topics[0] !== TRANSFER_TOPIC || l.topics.length !== 3) continue;
    const from = topicAddress(l.topics[1]);
    const w = from ? index.byAddress.get(from) : undefined;
    if (!w || explainedTx.has(`${l.transactionHash}:${from}`) || lookup.isKnownTx(l.transactionHash))
      continue;
    alert('UNMATCHED_OUTFLOW', w, l.transactionHash, {
      kind: 'erc20-transfer',
      token: l.address,
      to: topicAddress(l.topics[2]),
      amount: l.data.length >= 66 ? BigInt(l.data.slice(0, 66)).toString() : null,
    });
  }

  // 4. Slot 0 of every touched Safe.
  for (const [key, actual] of singletons) {
    const safe = index.safes.get(key.toLowerCase());
    if (safe && actual.toLowerCase() !== safe.config.singleton.toLowerCase()) {
      alert('WALLET_CONFIG_CHANGE', safe, lastTouch.get(key.toLowerCase()) ?? null, {
        field: 'singleton',
        slot: 0,
        expected: safe.config.singleton,
        actual,
      });
    }
  }
  return alerts;
}
