import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCoordinatorConfig, readSecretRef } from '../../src/coordinator/config.ts';

const EXAMPLE = new URL('../../examples/custos.yaml', import.meta.url).pathname;
const text = readFileSync(EXAMPLE, 'utf8');

describe('coordinator configuration', () => {
  it('accepts the shipped example with defaults filled in', () => {
    const c = parseCoordinatorConfig(text, EXAMPLE);
    expect(c.cosigners.map((x) => x.id)).toEqual(['cosigner-a', 'cosigner-b']);
    expect(c.worker.enabled).toBe(true);
    expect(c.api.rateLimit).toEqual({ perSecond: 20, burst: 100 });
    expect(c.webhooks?.endpoints.map((e) => [e.id, e.events])).toEqual([['soc', ['alert.raised']]]);
  });

  it('names the offending key: unknown, wrong type, duplicate, inline secret', () => {
    const bad = (t: string) => {
      try {
        parseCoordinatorConfig(t, 'custos.yaml');
      } catch (e) {
        return e as { code: string; field: string };
      }
      throw new Error('accepted');
    };
    expect(bad(text.replace('timeoutMs: 15000', 'timeout: 15000'))).toMatchObject({
      field: 'cosigners.1.timeout',
    });
    expect(bad(text.replace('port: 8080', 'port: "8080"'))).toMatchObject({
      code: 'CONFIG_INVALID',
      field: 'listen.port',
    });
    expect(bad(`${text}\nversion: 1\n`)).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(bad(text.replace('seed: { file: secrets/request-key }', 'seed: "00aa"'))).toMatchObject({
      field: 'requestKey.seed',
    });
    expect(
      bad(text.replace('secret: { env: CUSTOS_WEBHOOK_SOC_SECRET }', `secret: "${'s'.repeat(40)}"`)),
    ).toMatchObject({ field: 'webhooks.endpoints.0.secret' });
    expect(bad(text.replace('events: [alert.raised]', 'events: [Alert!]'))).toMatchObject({
      field: 'webhooks.endpoints.0.events.0',
    });
    expect(bad(text.replace('url: { env: CUSTOS_DATABASE_URL }', 'url: { env: A, file: b }'))).toMatchObject({
      field: 'database.postgres.url',
    });
  });

  it('database.postgres.idleTimeoutMs: accepted in range, refused outside it naming the key', () => {
    const withIdle = (v: string) =>
      text.replace('    schema: custos\n', `    schema: custos\n    idleTimeoutMs: ${v}\n`);
    expect(parseCoordinatorConfig(withIdle('60000'), EXAMPLE).database.postgres?.idleTimeoutMs).toBe(60_000);
    expect(parseCoordinatorConfig(text, EXAMPLE).database.postgres?.idleTimeoutMs).toBeUndefined();
    for (const v of ['0', '500', '"60000"', '1500.5', '86400001']) {
      expect(() => parseCoordinatorConfig(withIdle(v), EXAMPLE)).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', field: 'database.postgres.idleTimeoutMs' }),
      );
    }
  });

  it('reads secrets from env or a file relative to the config, naming the key when missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-cfg-'));
    writeFileSync(join(dir, 'seed'), 'ab'.repeat(32));
    const path = join(dir, 'custos.yaml');
    const c = parseCoordinatorConfig(text, path);
    expect(readSecretRef(c, { file: 'seed' }, 'requestKey.seed')).toBe('ab'.repeat(32));
    expect(readSecretRef(c, { env: 'X_SECRET' }, 'k', { X_SECRET: 'v' })).toBe('v');
    expect(() => readSecretRef(c, { env: 'NOPE_NOT_SET' }, 'chains.evm.eip155:1.relayerKey', {})).toThrow(
      /chains\.evm\.eip155:1\.relayerKey/,
    );
  });

  it('role and the EVM adapter settings: defaults, accepted values, refusals naming the key', () => {
    const c = parseCoordinatorConfig(text, EXAMPLE);
    expect(c.role).toBe('all');
    const evm = Object.values(c.chains.evm)[0]!;
    expect(evm).toMatchObject({ rpcBatch: true, sampleMs: 1000 });
    expect(evm.safeExecGas).toBeUndefined();
    const withEvm = (extra: string) => text.replace(/(relayerKey: [^\n]+\n)/, `$1${extra}`);
    expect(withEvm('      safeExecGas: estimate\n')).not.toBe(text);
    expect(
      Object.values(parseCoordinatorConfig(withEvm('      safeExecGas: estimate\n'), EXAMPLE).chains.evm)[0]!
        .safeExecGas,
    ).toBe('estimate');
    expect(
      Object.values(parseCoordinatorConfig(withEvm('      safeExecGas: 250000\n'), EXAMPLE).chains.evm)[0]!
        .safeExecGas,
    ).toBe(250000);
    const refusal = (t: string) => {
      try {
        parseCoordinatorConfig(t, 'custos.yaml');
      } catch (e) {
        return e as { field: string };
      }
      throw new Error('accepted');
    };
    expect(refusal(withEvm('      safeExecGas: lots\n')).field).toMatch(/^chains\.evm\..+\.safeExecGas$/);
    expect(refusal(withEvm('      safeExecGas: 100\n')).field).toMatch(/safeExecGas$/);
    expect(refusal(text.replace('role: all', 'role: signer')).field).toBe('role');
    expect(parseCoordinatorConfig(text.replace('role: all', 'role: api'), EXAMPLE).role).toBe('api');
  });
});
