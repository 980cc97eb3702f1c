import { encodeAbiParameters, keccak256, pad, toHex } from 'viem';
import { describe, expect, it } from 'vitest';
import type { Address, Hex } from '../../src/core/chains/evm/types.ts';
import type { EvmWallet } from '../../src/core/chains/evm/wallet-config.ts';
import {
  buildCustodyIndex,
  type MatchLookup,
  matchBlock,
  matchCandidates,
  type WatchBlock,
  type WatchLog,
} from '../../src/core/chains/evm/watch.ts';
import {
  CONFIG_EVENTS,
  EXECUTION_SUCCESS_TOPIC,
  MODULE_SUCCESS_TOPIC,
  TRANSFER_TOPIC,
} from '../../src/core/chains/evm/watch-events.ts';
import { ATTACKER, CHAIN, DEST, SAFE, TOKEN, wallet } from './fixtures.ts';

const HOT = '0x5555555555555555555555555555555555555555' as Address;
const wallets: EvmWallet[] = [
  wallet,
  { id: 'hot', chain: CHAIN, type: 'evm-hot', config: { address: HOT } },
  { ...wallet, id: 'other-chain', chain: 'eip155:1', config: { ...wallet.config, address: DEST } },
];
const index = buildCustodyIndex(CHAIN, wallets);
const h = (s: string) => keccak256(toHex(s));
const addrTopic = (a: Address) => pad(a.toLowerCase() as Hex);
const log = (over: Partial<WatchLog>): WatchLog => ({
  address: TOKEN,
  topics: [],
  data: '0x',
  transactionHash: h('tx'),
  logIndex: 0,
  ...over,
});
const block = (over: Partial<WatchBlock>): WatchBlock => ({
  number: 10n,
  hash: h('b10'),
  parentHash: h('b9'),
  transactions: [],
  logs: [],
  ...over,
});
const none: MatchLookup = { isKnownTx: () => false, isKnownSafeTx: () => false };
const codes = (b: WatchBlock, lookup = none, slots = new Map<string, Address>()) =>
  matchBlock(b, index, lookup, slots).map(
    (a) => `${a.code}:${a.wallet}:${a.details.kind ?? a.details.event ?? a.details.field}`,
  );
const transfer = (from: Address, tx = 'tx') =>
  log({
    topics: [TRANSFER_TOPIC, addrTopic(from), addrTopic(ATTACKER)],
    data: encodeAbiParameters([{ type: 'uint256' }], [5n]),
    transactionHash: h(tx),
  });
const execSuccess141 = (safeTxHash: Hex, tx = 'tx') =>
  log({
    address: SAFE,
    topics: [EXECUTION_SUCCESS_TOPIC, safeTxHash],
    data: pad('0x0'),
    transactionHash: h(tx),
  });
const execSuccess130 = (safeTxHash: Hex, tx = 'tx') =>
  log({
    address: SAFE,
    topics: [EXECUTION_SUCCESS_TOPIC],
    data: `${safeTxHash}${'0'.repeat(64)}` as Hex,
    transactionHash: h(tx),
  });

describe('watchtower matching (pure)', () => {
  it('a transaction from a hot wallet is an outflow unless Custos broadcast it', () => {
    const b = block({ transactions: [{ hash: h('t1'), from: HOT, to: ATTACKER, value: 1n, nonce: 0n }] });
    expect(codes(b)).toEqual(['UNMATCHED_OUTFLOW:hot:transaction']);
    expect(codes(b, { ...none, isKnownTx: (x) => x === h('t1') })).toEqual([]);
  });
  it('an ERC-20 Transfer out of a custody address needs a known tx or a known Safe execution', () => {
    expect(codes(block({ logs: [transfer(SAFE)] }))).toEqual([
      'UNMATCHED_OUTFLOW:treasury-safe:erc20-transfer',
    ]);
    const known = { ...none, isKnownSafeTx: (w: string, x: Hex) => w === 'treasury-safe' && x === h('s1') };
    expect(codes(block({ logs: [execSuccess141(h('s1')), transfer(SAFE)] }), known)).toEqual([]);
    // A known execution in ANOTHER transaction does not explain this transfer.
    expect(codes(block({ logs: [execSuccess141(h('s1'), 'a'), transfer(SAFE, 'b')] }), known)).toEqual([
      'UNMATCHED_OUTFLOW:treasury-safe:erc20-transfer',
    ]);
  });
  it('a known execution of one Safe does not explain a transfer out of another custody address', () => {
    const known = { ...none, isKnownSafeTx: (_w: string, x: Hex) => x === h('s1') };
    expect(codes(block({ logs: [execSuccess141(h('s1')), transfer(HOT)] }), known)).toEqual([
      'UNMATCHED_OUTFLOW:hot:erc20-transfer',
    ]);
  });
  it('ignores ERC-721 transfers (4 topics) and inflows', () => {
    const nft = log({ topics: [TRANSFER_TOPIC, addrTopic(SAFE), addrTopic(ATTACKER), pad('0x01')] });
    const inflow = log({ topics: [TRANSFER_TOPIC, addrTopic(ATTACKER), addrTopic(SAFE)], data: pad('0x05') });
    expect(codes(block({ logs: [nft, inflow] }))).toEqual([]);
  });
  it('reads safeTxHash from topic 1 (1.4.1) and from data (1.3.0)', () => {
    const known = { ...none, isKnownSafeTx: (_w: string, x: Hex) => x === h('s1') };
    expect(codes(block({ logs: [execSuccess141(h('s1'))] }), known)).toEqual([]);
    expect(codes(block({ logs: [execSuccess130(h('s1'))] }), known)).toEqual([]);
    expect(codes(block({ logs: [execSuccess130(h('s2'))] }), known)).toEqual([
      'UNMATCHED_OUTFLOW:treasury-safe:safe-execution',
    ]);
  });
  it('module executions and configuration events are critical', () => {
    const mod = log({ address: SAFE, topics: [MODULE_SUCCESS_TOPIC, addrTopic(ATTACKER)] });
    const [addedOwner] = [...CONFIG_EVENTS].find(([, n]) => n === 'AddedOwner')!;
    const cfg = log({ address: SAFE, topics: [addedOwner as Hex], data: pad(ATTACKER.toLowerCase() as Hex) });
    expect(codes(block({ logs: [mod, cfg] }))).toEqual([
      'UNMATCHED_OUTFLOW:treasury-safe:module-execution',
      'WALLET_CONFIG_CHANGE:treasury-safe:AddedOwner',
    ]);
  });
  it('slot 0 different from the registered singleton', () => {
    const slots = new Map([[SAFE.toLowerCase(), ATTACKER]]);
    expect(codes(block({}), none, slots)).toEqual(['WALLET_CONFIG_CHANGE:treasury-safe:singleton']);
    expect(codes(block({}), none, new Map([[SAFE.toLowerCase(), wallet.config.singleton]]))).toEqual([]);
  });
  it('wallets of another chain are not watched here', () => {
    expect(codes(block({ logs: [transfer(DEST)] }))).toEqual([]);
  });
  it('lists the candidates a store-backed lookup must load', () => {
    const b = block({
      transactions: [{ hash: h('t1'), from: HOT, to: ATTACKER, value: 1n, nonce: 0n }],
      logs: [execSuccess130(h('s1')), transfer(SAFE)],
    });
    const c = matchCandidates(b, index);
    expect(new Set(c.txHashes)).toEqual(new Set([h('t1'), h('tx')]));
    expect(c.safeTxs).toEqual([{ wallet: 'treasury-safe', safeTxHash: h('s1') }]);
  });
});
