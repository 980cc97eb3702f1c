import { CustosError } from '../core/errors/base.ts';

/**
 * What Custos asks of a Bitcoin node, implemented by the Bitcoin Core JSON-RPC adapter and the
 * Esplora REST adapter. Every call has a time-out and fails closed: a slow, unreachable or
 * nonsensical node yields a typed {@link BitcoinNodeError}, never a default value.
 */
export interface NodeUtxo {
  txid: string;
  vout: number;
  value: bigint;
  script?: string;
  address?: string;
  confirmations?: number;
  height?: number;
}

export interface BitcoinChainSource {
  tipHeight(): Promise<number>;
  blockHash(height: number): Promise<string>;
  rawBlock(hash: string): Promise<Uint8Array>;
  rawTransaction(txid: string): Promise<Uint8Array>;
  /** Fee rate in sat/vB for confirmation within `targetBlocks`. */
  estimateFeeRate(targetBlocks: number): Promise<number>;
  /** Broadcasts a raw transaction and returns its txid as the node reports it. */
  broadcast(raw: Uint8Array): Promise<string>;
}

export type BitcoinNodeErrorCode =
  | 'NODE_TIMEOUT'
  | 'NODE_UNREACHABLE'
  | 'NODE_HTTP_ERROR'
  | 'NODE_RPC_ERROR'
  | 'NODE_BAD_RESPONSE';

export class BitcoinNodeError extends CustosError {
  override readonly name = 'BitcoinNodeError';
}

export const HEX_RE = /^(?:[0-9a-f]{2})*$/;
export const HASH_RE = /^[0-9a-f]{64}$/;

export function bad(what: string, value: unknown): never {
  throw new BitcoinNodeError('NODE_BAD_RESPONSE', `node returned an invalid ${what}`, {
    details: { value: typeof value === 'string' ? value.slice(0, 100) : typeof value },
  });
}

export function hexBytes(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string' || !HEX_RE.test(s)) bad(what, s);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * fetch with a time-out; network errors and time-outs become typed errors. The caller checks the
 * HTTP status and the body.
 */
export async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (cause) {
    const name = (cause as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError')
      throw new BitcoinNodeError('NODE_TIMEOUT', `no answer within ${timeoutMs} ms`, {
        cause,
        details: { url: redact(url) },
      });
    throw new BitcoinNodeError('NODE_UNREACHABLE', 'node unreachable', {
      cause,
      details: { url: redact(url) },
    });
  }
}

/** Reads the body within the same deadline (a node that sends headers then stalls fails closed too). */
export async function bodyWithTimeout<T>(p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BitcoinNodeError('NODE_TIMEOUT', `body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p, t]);
  } catch (cause) {
    if (cause instanceof BitcoinNodeError) throw cause;
    throw new BitcoinNodeError('NODE_TIMEOUT', 'body not received', { cause });
  } finally {
    clearTimeout(timer);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
