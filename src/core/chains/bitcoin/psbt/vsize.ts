import type { DescriptorKind } from '../descriptor/parse.ts';

/**
 * Virtual size of a transaction once every input of `kind` is finalized, from the unsigned
 * non-witness size: the fee rate a co-signer checks is over the transaction that will be mined,
 * not over the smaller unsigned one. Signatures are counted at 72 bytes (DER max with low-S),
 * so the estimate is an upper bound on size and the computed rate a lower bound within ~1%.
 */
const SIG = 1 + 72; // push + DER + sighash byte
export function inputWeight(kind: DescriptorKind, threshold: number, keys: number): number {
  const outpointSeq = 36 + 4;
  if (kind === 'wpkh') return (outpointSeq + 1) * 4 + (1 + SIG + 1 + 33);
  if (kind === 'tr') return (outpointSeq + 1) * 4 + (1 + 1 + 64);
  const wsLen = 1 + keys * 34 + 1 + 1;
  const witness = 1 + 1 + threshold * SIG + varLen(wsLen) + wsLen;
  const scriptSig = kind === 'sh-wsh-sortedmulti' ? 1 + 1 + 34 : 1; // len + push(34-byte redeemScript)
  return (outpointSeq + scriptSig) * 4 + witness;
}

function varLen(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : 5;
}

/** Weight of version, counts, outputs and locktime, plus the segwit marker and flag. */
export function baseWeight(nInputs: number, outputScriptLengths: number[]): number {
  let bytes = 4 + varLen(nInputs) + varLen(outputScriptLengths.length) + 4;
  for (const l of outputScriptLengths) bytes += 8 + varLen(l) + l;
  return bytes * 4 + 2;
}

export function estimateVsize(
  kind: DescriptorKind,
  threshold: number,
  keys: number,
  nInputs: number,
  outputScriptLengths: number[],
): number {
  return Math.ceil(
    (baseWeight(nInputs, outputScriptLengths) + nInputs * inputWeight(kind, threshold, keys)) / 4,
  );
}
