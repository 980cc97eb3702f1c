import { hexToBytes } from '@noble/hashes/utils.js';
import { AddressBookIndex } from '../core/addressbook/index.ts';
import { type IntentSignature, verifyApprovals, verifyRequesterSignature } from '../core/approval/index.ts';
import { type BitcoinWallet, parseBitcoinWallet } from '../core/chains/bitcoin/wallet.ts';
import {
  type AssetRegistry,
  decodeUnsignedEip1559,
  type EvmWallet,
  type Hex,
  parseEvmWallet,
  parseSafeTxJson,
  verifyHotTransaction,
  verifySafeTransaction,
} from '../core/chains/evm/index.ts';
import { CustosError, fail, ok, type Result } from '../core/errors/base.ts';
import type { BundleConfig } from '../core/governance/types.ts';
import { PrincipalSet } from '../core/identity/principal-set.ts';
import type { Intent } from '../core/intent/index.ts';
import { evaluate } from '../core/policy/evaluate.ts';
import { loadPolicy, type Policy } from '../core/policy/load.ts';
import type { ScreeningStatus } from '../core/policy/types.ts';
import { type BitcoinOptions, verifyBitcoinTx } from './bitcoin-check.ts';
import type { CosignerChecks, TrustState, VerifiedTx } from './checks.ts';
import type { EvmChainReader } from './evm-rpc.ts';

/**
 * The real verification steps, wired to the other areas' pure functions. What is not available
 * yet fails closed with a typed code (never "passes"):
 *   - screening lists on the co-signer → 'unavailable' when the bundle names lists (the policy decides)
 *   - an EVM chain without an RPC endpoint in the config → CHAIN_NOT_CONFIGURED
 */
export interface PreparedTrust {
  principals: PrincipalSet;
  policy: Policy;
  addressBook: AddressBookIndex;
  wallets: Map<string, { type: string; chain: string; evm?: EvmWallet; bitcoin?: BitcoinWallet }>;
  assets: AssetRegistry;
  screeningListsNamed: boolean;
}

/** Builds the indexes once per verified bundle (refuses a bundle whose parts do not validate). */
export function prepareTrust(
  config: BundleConfig,
  opts: { webauthn?: PrincipalSet['webauthn'] } = {},
): PreparedTrust {
  const principals = new PrincipalSet(config.principals, { webauthn: opts.webauthn });
  // The bundle carries the policy as its normalised JSON document; JSON is YAML, so the policy
  // module's own loader validates it exactly as it validates a policy file.
  const policy = loadPolicy(JSON.stringify(config.policy), 'trust-bundle:policy');
  const wallets: PreparedTrust['wallets'] = new Map();
  for (const w of config.wallets) {
    wallets.set(w.id, {
      type: w.type,
      chain: w.chain,
      ...(w.type === 'safe' || w.type === 'evm-hot' ? { evm: parseEvmWallet(w) } : {}),
      ...(w.type === 'bitcoin-descriptor'
        ? { bitcoin: parseBitcoinWallet(w.config, `wallets.${w.id}.config`) }
        : {}),
    });
  }
  const assetMap = policy.compiled.assets;
  return {
    principals,
    policy,
    addressBook: new AddressBookIndex(config.addressBook),
    wallets,
    assets: {
      get: (caip19) => {
        const a = assetMap.get(caip19);
        return a ? { caip19, decimals: a.decimals, symbol: a.symbol } : undefined;
      },
    },
    screeningListsNamed: config.screening.length > 0,
  };
}

function prepared(trust: TrustState): PreparedTrust {
  const c = trust.content as PreparedTrust | undefined;
  if (!c || !(c.principals instanceof PrincipalSet))
    throw new CustosError('TRUST_NOT_PREPARED', 'trust bundle content is not prepared');
  return c;
}

export interface RealChecksOptions {
  /** The co-signer's OWN chain reader (its own RPC endpoint), never the coordinator's. */
  evm?: EvmChainReader;
  /** Address of this co-signer's EVM key (a Safe owner, or the hot wallet itself). */
  evmSignerAddress?: Hex;
  /** BIP 32 path of the key for EVM signing, when the key is an HD root. */
  evmKeyPath?: string;
  /** Bitcoin: the co-signer's own UTXO view / fee ceiling (optional, see bitcoin-check.ts). */
  bitcoin?: BitcoinOptions;
  /** Screening status source; default: 'unavailable' if the bundle names lists, else 'clear'. */
  screening?: (intent: Intent, trust: PreparedTrust) => ScreeningStatus;
}

export function realChecks(o: RealChecksOptions): CosignerChecks {
  return {
    verifyRequester(intent, signature, trust, now) {
      const r = verifyRequesterSignature(
        intent,
        signature as IntentSignature,
        prepared(trust).principals,
        now,
      );
      return r.ok ? ok({ principal: r.value.principal }) : r;
    },

    evaluatePolicy(intent, trust, ledger, now) {
      const t = prepared(trust);
      const requester = t.principals.principals.find((p) => p.id === intent.requestedBy);
      const screening =
        o.screening?.(intent, t) ??
        // The co-signer holds no screening lists of its own yet: if the bundle expects screening,
        // report it as unavailable and let the policy decide (rules name which statuses they allow).
        (t.screeningListsNamed ? 'unavailable' : 'clear');
      const d = evaluate(t.policy, intent, {
        now,
        requester: { id: intent.requestedBy, roles: requester ? [...requester.roles] : [] },
        addressBook: t.addressBook,
        ledger,
        screening,
        assets: {},
      });
      return ok({
        decision: d.decision,
        rule: d.rule,
        ...(d.quorum ? { requirement: d.quorum } : {}),
        delayMs: d.delayMs,
        reasons: d.reasons,
        policyDigest: d.policyDigest,
      });
    },

    verifyApprovals(intent, approvals, requirement, trust, now) {
      const r = verifyApprovals(intent, approvals as never[], prepared(trust).principals, requirement, now);
      return r.ok ? ok({ approvers: r.approvers }) : r;
    },

    async verifyTx(intent, tx, trust, ctx) {
      const t = prepared(trust);
      const wallet = t.wallets.get(intent.wallet);
      if (!wallet) return fail('WALLET_UNKNOWN', 'intent names a wallet not in the trust bundle');
      if (tx.kind === 'psbt') {
        if (!wallet.bitcoin)
          return fail('WALLET_TYPE_MISMATCH', 'a PSBT for a wallet that is not a Bitcoin descriptor wallet');
        return verifyBitcoinTx(intent, tx.psbt, wallet.bitcoin, o.bitcoin ?? {});
      }
      if (!o.evm || !o.evmSignerAddress)
        return fail('CHAIN_NOT_CONFIGURED', 'this co-signer has no EVM RPC endpoint or EVM key configured');
      if (!wallet.evm || wallet.evm.type !== tx.kind)
        return fail('WALLET_TYPE_MISMATCH', 'transaction kind does not match the wallet type', {
          wallet: wallet.type,
          tx: tx.kind,
        });
      const me = o.evmSignerAddress.toLowerCase();
      if (wallet.evm.type === 'safe' && tx.kind === 'safe') {
        const w = wallet.evm;
        if (tx.safe.toLowerCase() !== w.config.address.toLowerCase())
          return fail('WALLET_MISMATCH', 'request names another Safe than the bundle wallet');
        if (!w.config.owners.some((a) => a.toLowerCase() === me))
          return fail('KEY_NOT_OWNER', 'this co-signer key is not an owner of the Safe');
        let fields: ReturnType<typeof parseSafeTxJson>;
        try {
          fields = parseSafeTxJson({ ...tx.safeTx });
        } catch (e) {
          return fail(
            e instanceof CustosError ? e.code : 'INVALID_SAFE_TX',
            'Safe transaction fields are invalid',
          );
        }
        const evm = o.evm;
        const state = await memoized(ctx.memo, `safe:${w.chain}:${w.config.address.toLowerCase()}`, () =>
          evm.safeState(w.chain, w.config.address, w.config),
        );
        if (!state.ok) return state;
        const v = verifySafeTransaction(intent, fields, w, state.value, t.assets);
        if (!v.ok) return v;
        return ok<VerifiedTx>({
          kind: 'safe',
          txHash: v.value.safeTxHash,
          spendKeys: [`evm:${w.chain}:${w.config.address.toLowerCase()}:${fields.nonce}`],
          toSign: [{ digest: hexToBytes(v.value.safeTxHash.slice(2)), path: o.evmKeyPath }],
        });
      }
      if (wallet.evm.type === 'evm-hot' && tx.kind === 'evm-hot') {
        const w = wallet.evm;
        if (w.config.address.toLowerCase() !== me)
          return fail('KEY_NOT_OWNER', 'this co-signer key is not the hot wallet key');
        const evm = o.evm;
        const state = await memoized(ctx.memo, `hot:${w.chain}:${w.config.address.toLowerCase()}`, () =>
          evm.hotState(w.chain, w.config.address),
        );
        if (!state.ok) return state;
        const v = verifyHotTransaction(intent, tx.unsignedTx as Hex, w, state.value, t.assets);
        if (!v.ok) return v;
        const d = decodeUnsignedEip1559(tx.unsignedTx as Hex);
        if (!d.ok) return d;
        return ok<VerifiedTx>({
          kind: 'evm-hot',
          txHash: v.value.signingHash,
          spendKeys: [`evm:${w.chain}:${w.config.address.toLowerCase()}:${d.value.nonce}`],
          toSign: [{ digest: hexToBytes(v.value.signingHash.slice(2)), path: o.evmKeyPath }],
        });
      }
      return fail('WALLET_TYPE_MISMATCH', 'transaction kind does not match the wallet type');
    },
  };
}

/**
 * One chain read per key per request: every item of a batch that spends from the same Safe is
 * checked against the same state (read once, at one block). The memo belongs to the request.
 */
function memoized<T>(memo: Map<string, Promise<unknown>> | undefined, key: string, read: () => Promise<T>) {
  if (!memo) return read();
  let p = memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = read();
    memo.set(key, p);
  }
  return p;
}

export type { Result };
