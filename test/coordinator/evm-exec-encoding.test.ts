import fc from 'fast-check';
import { bytesToHex, encodeFunctionData, getAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import type { Address, Hex } from '../../src/core/chains/evm/types.ts';
import { encodeExecTransaction, execTransactionArgs } from '../../src/evm/execute.ts';
import { safeAbi } from '../../src/evm/safe-abi.ts';

const address = fc
  .uint8Array({ minLength: 20, maxLength: 20 })
  .map((b) => getAddress(bytesToHex(b)) as Address);
const word = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n });

describe('execTransaction calldata', () => {
  it('is what viem encodeFunctionData gives for the same fields and signatures', () => {
    fc.assert(
      fc.property(
        address,
        word,
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom(0, 1),
        fc.tuple(word, word, word),
        fc.tuple(address, address),
        word,
        fc.uniqueArray(fc.tuple(address, fc.uint8Array({ minLength: 65, maxLength: 65 })), {
          minLength: 1,
          maxLength: 4,
          selector: ([owner]) => owner.toLowerCase(),
        }),
        (
          to,
          value,
          data,
          operation,
          [safeTxGas, baseGas, gasPrice],
          [gasToken, refundReceiver],
          nonce,
          sigs,
        ) => {
          const f = {
            to,
            value,
            data: bytesToHex(data) as Hex,
            operation: operation as 0 | 1,
            safeTxGas,
            baseGas,
            gasPrice,
            gasToken,
            refundReceiver,
            nonce,
          };
          const owners = sigs.map(([owner, s]) => ({ owner, signature: bytesToHex(s) as Hex }));
          expect(encodeExecTransaction(f, owners)).toBe(
            encodeFunctionData({
              abi: safeAbi,
              functionName: 'execTransaction',
              args: execTransactionArgs(f, owners),
            }),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
