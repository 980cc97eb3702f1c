import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** The `custos` launcher (tsx loader, no build step). */
export const CUSTOS_BIN = new URL('../../../bin/custos.mjs', import.meta.url).pathname;

export interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `custos <args>` as its own OS process, stdout/stderr appended to `logFile`. The child
 * writes to the file itself (its descriptors are the file), not through a pipe this process would
 * have to drain: a busy parent would otherwise stall every child's log writes.
 */
export function spawnCustos(
  name: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): Child {
  const fd = openSync(logFile, 'a', 0o600);
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, [CUSTOS_BIN, ...args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  return {
    name,
    proc,
    logFile,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await done;
      }
    },
  };
}

/** Polls `url` until it answers 2xx (any HTTP answer with `anyStatus`), or the deadline passes. */
export async function waitHttp(
  url: string,
  timeoutMs = 60_000,
  child?: Child,
  anyStatus = false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok || anyStatus) return;
    } catch {
      /* not up yet */
    }
    if (child && child.proc.exitCode !== null) {
      throw new Error(`${child.name} exited with ${child.proc.exitCode} (see ${child.logFile})`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
