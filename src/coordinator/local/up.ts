import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type AnvilProcess, freePort, startAnvil } from './anvil.ts';
import { type Child, spawnCustos, waitHttp } from './processes.ts';
import { type LocalSetup, type LocalSetupOptions, setupLocal } from './setup.ts';

export interface LocalDeployment {
  setup: LocalSetup;
  anvil: AnvilProcess;
  cosigners: Child[];
  coordinator: Child;
  /** Restarts a stopped co-signer / coordinator process with the same configuration. */
  startCosigner(i: number): Promise<Child>;
  startCoordinator(): Promise<Child>;
  stop(): Promise<void>;
}

export interface RunLocalOptions {
  dir: string;
  /** Remove `dir` first (a fresh deployment). */
  fresh?: boolean;
  databaseUrl?: string;
  schemaPrefix?: string;
  scrypt?: LocalSetupOptions['scrypt'];
  coordinatorExtra?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  onStep?: (msg: string) => void;
}

/**
 * `custos up` and the e2e tests: anvil + deployment + two `custos cosigner` processes + one
 * `custos serve` process, each its own OS process with its own log file under `dir`.
 */
export async function runLocal(o: RunLocalOptions): Promise<LocalDeployment> {
  const step = o.onStep ?? (() => undefined);
  if (o.fresh) rmSync(o.dir, { recursive: true, force: true });
  step('starting anvil');
  const anvil = await startAnvil();
  const ports = [await freePort(), await freePort(), await freePort()] as const;
  let setup: LocalSetup;
  try {
    step('deploying a 2-of-3 Safe and a test ERC-20, generating keys, signing trust bundle 1');
    setup = await setupLocal({
      dir: o.dir,
      anvilRpc: anvil.rpcUrl,
      chainId: anvil.chainId,
      coordinatorPort: ports[0],
      cosignerPorts: [ports[1], ports[2]],
      ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
      ...(o.schemaPrefix ? { schemaPrefix: o.schemaPrefix } : {}),
      ...(o.scrypt ? { scrypt: o.scrypt } : {}),
      ...(o.coordinatorExtra ? { coordinatorExtra: o.coordinatorExtra } : {}),
    });
  } catch (e) {
    await anvil.stop();
    throw e;
  }
  const children: Child[] = [];
  const startCosigner = async (i: number): Promise<Child> => {
    const c = setup.cosigners[i]!;
    const child = spawnCustos(c.id, ['cosigner', '--config', c.config], join(o.dir, `${c.id}.log`), o.env);
    children.push(child);
    // The co-signer answers only signed requests: any HTTP answer means it is listening.
    await waitHttp(`${c.url}/v1/status`, 60_000, child, true);
    return child;
  };
  const startCoordinator = async (): Promise<Child> => {
    const child = spawnCustos(
      'coordinator',
      ['serve', '--config', setup.coordinatorConfig],
      join(o.dir, 'coordinator.log'),
      o.env,
    );
    children.push(child);
    await waitHttp(`${setup.coordinatorUrl}/livez`, 60_000, child);
    return child;
  };
  const stopAll = async () => {
    await Promise.all(children.map((c) => c.stop()));
    await anvil.stop();
  };
  try {
    step('starting the coordinator');
    const coordinator = await startCoordinator();
    step('starting two co-signers');
    const cosigners = await Promise.all([startCosigner(0), startCosigner(1)]);
    return { setup, anvil, cosigners, coordinator, startCosigner, startCoordinator, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
