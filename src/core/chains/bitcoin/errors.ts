import { CustosError, type CustosErrorOptions } from '../../errors/base.ts';

/**
 * Bad Bitcoin input at a boundary (descriptor, PSBT, address, raw block): thrown by parsers with a
 * stable code. Verifiers turn it into a `Result` (`PSBT_INVALID` with `details.reason = code`).
 */
export class BitcoinInputError extends CustosError {
  override readonly name = 'BitcoinInputError';
  constructor(code: string, shortMessage: string, options: CustosErrorOptions = {}) {
    super(code, shortMessage, options);
  }
}
