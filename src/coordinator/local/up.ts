import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type RegtestSimulator, startRegtestSimulator } from '../../bitcoin/regtest-sim-rpc.ts';
import { type AnvilProcess, freePort, startAnvil } from './anvil.ts';
import type { BitcoinNodeAccess } from './bitcoin.ts';
import { type Child, spawnCustos, waitHttp } from './processes.ts';
import { type LocalSetup, type LocalSetupOptions, setupLocal } from './setup.ts';

export interface LocalDeployment {
  setup: LocalSetup;
  anvil: AnvilProcess;
  /** The in-process regtest simulator (undefined with `bitcoin: false` or a real node). */
  bitcoinSim?: RegtestSimulator;
  cosigners: Child[];
  coordinator: Child;
  /** The workflow process of a split coordinator (workflowProcess). */
  workflow?: Child;
  /** Restarts a stopped co-signer / coordinator process with the same configuration. */
  startCosigner(i: number): Promise<Child>;
  startCoordinator(): Promise<Child>;
  stop(): Promise<void>;
}

/**
 * How long a process may take to answer HTTP: loading the CLI through tsx alone takes ~15 s on a
 * loaded 2-core machine, and each process opens its own PGlite.
 */
const START_TIMEOUT_MS = 180_000;

export interface RunLocalOptions {
  dir: string;
  /** Remove `dir` first (a fresh deployment). */
  fresh?: boolean;
  databaseUrl?: string;
  schemaPrefix?: string;
  scrypt?: LocalSetupOptions['scrypt'];
  coordinatorExtra?: Record<string, unknown>;
  /** 2-of-3 Safes to deploy (safe-1 … safe-N). Default 1. */
  safes?: number;
  /**
   * The Bitcoin wallet's node: default (true) a local regtest simulator in this process
   * (src/bitcoin/regtest-sim.ts — a simulator of Core's RPC, not a node); a real
   * `bitcoind -regtest` (wallets `faucet`, funded, and `custody`, watch-only); or false: none.
   */
  bitcoin?: boolean | BitcoinNodeAccess;
  env?: NodeJS.ProcessEnv;
  onStep?: (msg: string) => void;
  /**
   * Run the coordinator as two processes (PostgreSQL only): `coordinator` serves the API, a
   * `coordinator-workflow` process runs the workflow worker and the watchtowers.
   */
  workflowProcess?: boolean;
  /**
   * anvil mines a block every this many seconds once the deployment is set up (0 or absent:
   * automine, a block per transaction). Deployment itself always automines.
   */
  blockSeconds?: number;
}

/**
 * `custos up` and the e2e tests: anvil + deployment + two `custos cosigner` processes + one
 * `custos serve` process, each its own OS process with its own log file under `dir`; the regtest
 * simulator (when used) runs inside this process and stops with it.
 */
export async function runLocal(o: RunLocalOptions): Promise<LocalDeployment> {
  const step = o.onStep ?? (() => undefined);
  if (o.fresh) rmSync(o.dir, { recursive: true, force: true });
  step('starting anvil');
  const anvil = await startAnvil();
  let bitcoinSim: RegtestSimulator | undefined;
  const closeChains = async () => {
    await anvil.stop();
    await bitcoinSim?.close();
  };
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()] as const;
  let setup: LocalSetup;
  try {
    let bitcoin: BitcoinNodeAccess | undefined;
    if (o.bitcoin === undefined || o.bitcoin === true) {
      step('starting the local regtest chain simulator (Bitcoin Core RPC test double, not a node)');
      bitcoinSim = await startRegtestSimulator();
      bitcoin = { url: bitcoinSim.url, auth: bitcoinSim.auth };
    } else if (o.bitcoin) bitcoin = o.bitcoin;
    step(
      `deploying ${o.safes && o.safes > 1 ? `${o.safes} 2-of-3 Safes` : 'a 2-of-3 Safe'} and a test ERC-20${bitcoin ? ', a 2-of-3 regtest Bitcoin wallet' : ''}, generating keys, signing trust bundle 1`,
    );
    setup = await setupLocal({
      dir: o.dir,
      anvilRpc: anvil.rpcUrl,
      chainId: anvil.chainId,
      coordinatorPort: ports[0],
      cosignerPorts: [ports[1], ports[2]],
      ...(o.workflowProcess ? { workflowPort: ports[3] } : {}),
      ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
      ...(o.schemaPrefix ? { schemaPrefix: o.schemaPrefix } : {}),
      ...(o.scrypt ? { scrypt: o.scrypt } : {}),
      ...(o.coordinatorExtra ? { coordinatorExtra: o.coordinatorExtra } : {}),
      ...(o.safes ? { safes: o.safes } : {}),
      ...(bitcoin ? { bitcoin } : {}),
    });
    if (o.blockSeconds) await anvil.setBlockTime(o.blockSeconds);
  } catch (e) {
    await closeChains();
    throw e;
  }
  const children: Child[] = [];
  const startCosigner = async (i: number): Promise<Child> => {
    const c = setup.cosigners[i]!;
    const child = spawnCustos(c.id, ['cosigner', '--config', c.config], join(o.dir, `${c.id}.log`), o.env);
    children.push(child);
    // The co-signer answers only signed requests: any HTTP answer means it is listening.
    await waitHttp(`${c.url}/v1/status`, START_TIMEOUT_MS, child, true);
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
    await waitHttp(`${setup.coordinatorUrl}/livez`, START_TIMEOUT_MS, child);
    return child;
  };
  const startWorkflow = async (): Promise<Child | undefined> => {
    const wf = setup.workflow;
    if (!wf) return undefined;
    const child = spawnCustos(
      'coordinator-workflow',
      ['serve', '--config', wf.config],
      join(o.dir, 'coordinator-workflow.log'),
      o.env,
    );
    children.push(child);
    await waitHttp(`${wf.url}/livez`, START_TIMEOUT_MS, child);
    return child;
  };
  const stopAll = async () => {
    await Promise.all(children.map((c) => c.stop()));
    await closeChains();
  };
  try {
    step(
      setup.workflow ? 'starting the coordinator (API and workflow processes)' : 'starting the coordinator',
    );
    const [coordinator, workflow] = await Promise.all([startCoordinator(), startWorkflow()]);
    step('starting two co-signers');
    const cosigners = await Promise.all([startCosigner(0), startCosigner(1)]);
    return {
      ...(workflow ? { workflow } : {}),
      setup,
      anvil,
      ...(bitcoinSim ? { bitcoinSim } : {}),
      cosigners,
      coordinator,
      startCosigner,
      startCoordinator,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
