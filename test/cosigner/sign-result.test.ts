import { hexToBytes } from '@noble/hashes/utils.js';
import { HDKey } from '@scure/bip32';
import { recoverAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import type { VerifiedTx } from '../../src/cosigner/checks.ts';
import { addressOf, ownerAddress, signVerified } from '../../src/cosigner/sign-result.ts';
import type { Secp256k1Signer } from '../../src/keys/backend.ts';
import { memorySigner } from '../../src/keys/memory.ts';

/** Wraps a signer and counts publicKey() calls per path. */
function counting(inner: Secp256k1Signer) {
  const calls: (string | undefined)[] = [];
  const signer: Secp256k1Signer = {
    ...inner,
    publicKey: (path) => {
      calls.push(path);
      return inner.publicKey(path);
    },
    signDigest: (d, p) => inner.signDigest(d, p),
  };
  return { signer, calls };
}

const hexKey = (k: Uint8Array) => `0x${Buffer.from(k).toString('hex')}` as const;
const safeTx = { kind: 'safe', safe: '0x0000000000000000000000000000000000000001', safeTx: {} } as never;

describe('co-signer owner address (derived once per signer and path)', () => {
  it("equals viem's derivation, for distinct keys and paths (a cache keyed on the path alone would fail)", async () => {
    const keys = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), new Uint8Array(32).fill(3)];
    for (const k of keys) {
      const s = memorySigner('k', k);
      expect(await ownerAddress(s)).toBe(privateKeyToAccount(hexKey(k)).address);
      expect(addressOf(await s.publicKey())).toBe(privateKeyToAccount(hexKey(k)).address);
    }
    const root = HDKey.fromMasterSeed(new Uint8Array(32).fill(7));
    const hd = memorySigner('hd', root);
    for (const path of ["m/44'/60'/0'/0/0", "m/44'/60'/0'/0/1", 'm/0/5']) {
      const expected = privateKeyToAccount(hexKey(root.derive(path).privateKey!)).address;
      expect(await ownerAddress(hd, path)).toBe(expected);
      expect(await ownerAddress(hd, path)).toBe(expected); // cached, same answer
    }
    expect(await ownerAddress(hd, "m/44'/60'/0'/0/0")).not.toBe(await ownerAddress(hd, "m/44'/60'/0'/0/1"));
    expect(await ownerAddress(hd)).toBe(privateKeyToAccount(hexKey(root.privateKey!)).address);
  });

  it('asks the backend once per (signer, path); a failed derivation is not remembered', async () => {
    const { signer, calls } = counting(memorySigner('hd', HDKey.fromMasterSeed(new Uint8Array(32).fill(9))));
    await Promise.all([
      ownerAddress(signer, 'm/1'),
      ownerAddress(signer, 'm/1'),
      ownerAddress(signer, 'm/2'),
    ]);
    await ownerAddress(signer, 'm/1');
    expect(calls).toEqual(['m/1', 'm/2']);

    let fail = true;
    const flaky: Secp256k1Signer = {
      ...memorySigner('f', new Uint8Array(32).fill(4)),
      publicKey: async () => {
        if (fail) throw new Error('token not ready');
        return memorySigner('f', new Uint8Array(32).fill(4)).publicKey();
      },
    };
    await expect(ownerAddress(flaky)).rejects.toThrow('token not ready');
    fail = false;
    expect(await ownerAddress(flaky)).toBe(privateKeyToAccount(hexKey(new Uint8Array(32).fill(4))).address);
  });

  it('signVerified: the Safe signature recovers to the reported owner, key by key', async () => {
    const digest = hexToBytes('a1'.repeat(32));
    for (const fill of [5, 6]) {
      const { signer, calls } = counting(memorySigner('s', new Uint8Array(32).fill(fill)));
      const v: VerifiedTx = {
        kind: 'safe',
        txHash: `0x${'a1'.repeat(32)}`,
        spendKeys: [],
        toSign: [{ digest }],
      };
      for (let n = 0; n < 3; n++) {
        const r = await signVerified(signer, v, safeTx);
        if (r.kind !== 'safe') throw new Error('expected a Safe result');
        const owner = privateKeyToAccount(hexKey(new Uint8Array(32).fill(fill))).address;
        expect(r.signer).toBe(owner);
        const sig = r.signature as `0x${string}`;
        expect(await recoverAddress({ hash: `0x${'a1'.repeat(32)}`, signature: sig })).toBe(owner);
      }
      expect(calls).toHaveLength(1);
    }
  });
});
