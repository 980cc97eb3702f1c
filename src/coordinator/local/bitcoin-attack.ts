import { base64 } from '@scure/base';
import { RawTx, Transaction } from '@scure/btc-signer';
import { BitcoinCoreRpc } from '../../bitcoin/rpc.ts';
import { walletUtxos } from '../../bitcoin/utxos.ts';
import type { TxPayload } from '../../core/auth/index.ts';
import { addressToScript } from '../../core/chains/bitcoin/address.ts';
import { buildPsbt } from '../../core/chains/bitcoin/build.ts';
import { PSBT_OPTS } from '../../core/chains/bitcoin/psbt/decode.ts';
import { parsePsbtKeyMaps, serializePsbtKeyMaps } from '../../core/chains/bitcoin/psbt/keymap.ts';
import { parseBitcoinWallet } from '../../core/chains/bitcoin/wallet.ts';
import type { TrustBundle } from '../../core/governance/types.ts';
import type { Intent } from '../../core/intent/index.ts';
import { BTC_SCAN_UP_TO, demoAddress, type LocalBitcoin } from './bitcoin.ts';

/**
 * The Bitcoin half of `custos demo attack`: a compromised coordinator (or wallet vendor's
 * messaging system — DMM Bitcoin, May 2024) builds the honest PSBT for an approved intent from the
 * node's wallet view, then tampers with it before asking the co-signers. Each scenario names the
 * refusal code the co-signers' own PSBT check must give.
 */
export interface BitcoinScenario {
  scenario: string;
  description: string;
  expect: string;
  tx: TxPayload;
}

/** An address that is not in the address book and not ours. */
export const BTC_ATTACKER = demoAddress('custos-demo-attacker');

function tamper(psbt: Uint8Array, fn: (tx: Transaction) => void): TxPayload {
  const tx = Transaction.fromPSBT(psbt, PSBT_OPTS);
  fn(tx);
  return { kind: 'psbt', psbt: base64.encode(tx.toPSBT(0)) };
}

/** Byte-level edit of the unsigned transaction, keeping every PSBT field (btc-signer would drop or refuse some). */
function editUnsignedTx(psbt: Uint8Array, fn: (tx: ReturnType<typeof RawTx.decode>) => void): TxPayload {
  const maps = parsePsbtKeyMaps(psbt);
  const global = maps.global.map((kv) => {
    if (kv.type !== 0 || kv.key.length !== 1) return kv;
    const tx = RawTx.decode(kv.value);
    fn(tx);
    return { ...kv, value: RawTx.encode(tx) };
  });
  return { kind: 'psbt', psbt: base64.encode(serializePsbtKeyMaps({ ...maps, global })) };
}

/**
 * CVE-2020-14199 fee siphon: every input claims `by` sat more in witness_utxo and the previous
 * transactions that would disprove it are dropped (the signer would pay a fee it never saw).
 */
export function inflateWitnessUtxoAmounts(psbt: Uint8Array, by: bigint): Uint8Array {
  const src = Transaction.fromPSBT(psbt, PSBT_OPTS);
  const tx = new Transaction({ ...PSBT_OPTS, version: 2, lockTime: 0 });
  for (let i = 0; i < src.inputsLength; i++) {
    const { nonWitnessUtxo: _dropped, ...inp } = src.getInput(i);
    tx.addInput({ ...inp, witnessUtxo: { ...inp.witnessUtxo!, amount: inp.witnessUtxo!.amount + by } });
  }
  for (let i = 0; i < src.outputsLength; i++) tx.addOutput(src.getOutput(i));
  return tx.toPSBT(0);
}

export async function bitcoinScenarios(
  b: LocalBitcoin,
  bundle: TrustBundle | undefined,
  intent: Intent,
): Promise<BitcoinScenario[]> {
  const record = bundle?.config.wallets.find((w) => w.id === b.wallet);
  if (!record) throw new Error(`wallet ${b.wallet} is not in the trust bundle`);
  const w = parseBitcoinWallet(record.config);
  const rpc = new BitcoinCoreRpc({ url: b.node.url, auth: b.node.auth, wallet: b.node.custodyWallet });
  const utxos = await walletUtxos(rpc, w, BTC_SCAN_UP_TO);
  // The honest PSBT, exactly as the coordinator's adapter would build it (change at the last
  // scanned internal index, so no real withdrawal is disturbed: nothing here is broadcast).
  const honest = buildPsbt(intent, w, utxos, await rpc.estimateFeeRate(6), BTC_SCAN_UP_TO).psbt;
  const attacker = addressToScript(BTC_ATTACKER, 'regtest');
  const dest = addressToScript(intent.destination, 'regtest');
  const isDest = (s: Uint8Array) => Buffer.from(s).equals(Buffer.from(dest));
  const outputs = Transaction.fromPSBT(honest, PSBT_OPTS);
  let destIndex = -1;
  let changeIndex = -1;
  for (let i = 0; i < outputs.outputsLength; i++)
    if (isDest(outputs.getOutput(i).script!)) destIndex = i;
    else changeIndex = i;
  if (destIndex < 0 || changeIndex < 0) throw new Error('honest PSBT has no destination or no change output');
  const changeAmount = outputs.getOutput(changeIndex).amount!;
  return [
    {
      scenario: 'btc-destination-swapped',
      description: 'after approval the PSBT pays an attacker instead of the approved address (DMM Bitcoin)',
      expect: 'DESTINATION_MISMATCH',
      tx: tamper(honest, (tx) => tx.updateOutput(destIndex, { script: attacker })),
    },
    {
      scenario: 'btc-amount-changed',
      description: 'the destination output pays 0.1 RBTC more, taken from the change',
      expect: 'AMOUNT_MISMATCH',
      tx: tamper(honest, (tx) => {
        tx.updateOutput(destIndex, { amount: BigInt(intent.amount) + 10_000_000n });
        tx.updateOutput(changeIndex, { amount: changeAmount - 10_000_000n });
      }),
    },
    {
      scenario: 'btc-change-redirected',
      description: "the change output pays an attacker but keeps the wallet's change derivation",
      expect: 'CHANGE_NOT_OURS',
      tx: editUnsignedTx(honest, (tx) => {
        tx.outputs[changeIndex]!.script = attacker;
      }),
    },
    {
      scenario: 'btc-extra-output',
      description: 'an extra output to an attacker, paid from the change',
      expect: 'EXTRA_OUTPUT',
      tx: tamper(honest, (tx) => {
        tx.updateOutput(changeIndex, { amount: changeAmount - 100_000n });
        tx.addOutput({ script: attacker, amount: 100_000n });
      }),
    },
    {
      scenario: 'btc-fee-siphon',
      description:
        'input amounts inflated in witness_utxo and the previous transactions dropped (CVE-2020-14199)',
      expect: 'INPUT_AMOUNT_UNPROVEN',
      tx: { kind: 'psbt', psbt: base64.encode(inflateWitnessUtxoAmounts(honest, 5_000_000n)) },
    },
    {
      scenario: 'btc-sighash-none',
      description: 'an input asks for SIGHASH_NONE (outputs could be rewritten after signing)',
      expect: 'SIGHASH_NOT_ALL',
      tx: tamper(honest, (tx) => tx.updateInput(0, { sighashType: 0x02 }, true)),
    },
  ];
}
