import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SOFTHSM_LIBRARY } from '../../src/keys/pkcs11.ts';
import { requirement } from './require.ts';

/** Whether SoftHSM v2 is installed (loud skip, or failure under CUSTOS_REQUIRE_ALL=1). */
export function softhsmAvailable(): boolean {
  let ok = existsSync(SOFTHSM_LIBRARY);
  if (ok) {
    try {
      execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    } catch {
      ok = false;
    }
  }
  return requirement('SoftHSM', ok, 'apt-get install softhsm2');
}

export interface TestToken {
  library: string;
  tokenLabel: string;
  pin: string;
  soPin: string;
  /** SOFTHSM2_CONF for child processes. */
  conf: string;
  cleanup(): void;
}

/**
 * A fresh SoftHSM token in its own temp directory. Sets SOFTHSM2_CONF for this process (SoftHSM
 * reads it at C_Initialize, so call this before opening any PKCS#11 session in the test file).
 */
export function freshToken(label = 'custos-test'): TestToken {
  const dir = mkdtempSync(join(tmpdir(), 'custos-softhsm-'));
  const tokendir = join(dir, 'tokens');
  mkdirSync(tokendir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const pin = '1234-5678';
  const soPin = '8765-4321';
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' },
  );
  return {
    library: SOFTHSM_LIBRARY,
    tokenLabel: label,
    pin,
    soPin,
    conf,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
