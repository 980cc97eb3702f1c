import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

/** The co-signer daemon as a separate OS process (`custos cosigner --config …`), for multi-process tests. */
const ROOT = new URL('../../', import.meta.url).pathname;

export interface Daemon {
  proc: ChildProcess;
  url: string;
  waitFor(re: RegExp): Promise<void>;
}

export async function startDaemon(config: string, env: Record<string, string>): Promise<Daemon> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/custos.mjs'), 'cosigner', '--config', config], {
    env: { ...process.env, ...env, CUSTOS_ALLOW_FAULT_INJECTION: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += String(d);
    for (const w of waiters.splice(0)) {
      if (w.re.test(out)) w.resolve();
      else waiters.push(w);
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const waitFor = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(out)) return resolve();
      const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${out}`)), 60_000);
      waiters.push({
        re,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
      proc.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${out}`)));
    });
  await waitFor(/cosigner listening/);
  const url = /"url":"([^"]+)"/.exec(out)![1]!;
  return { proc, url, waitFor };
}

export async function kill9(d: Daemon): Promise<void> {
  const exited = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill('SIGKILL');
  await exited;
}
