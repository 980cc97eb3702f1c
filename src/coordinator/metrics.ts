import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkflowMetrics } from './workflow/ports.ts';

/**
 * Prometheus metrics of one coordinator (own registry, so several apps in one test process do
 * not collide). Intents by state are read from the database at scrape time: every process
 * reports the same shared truth, not its own share.
 */
export class CoordinatorMetrics implements WorkflowMetrics {
  readonly registry = new Registry();
  private readonly decision: Histogram;
  private readonly cosigner: Histogram;
  private readonly refusals: Counter;
  readonly watchtowerLag: Gauge;
  readonly watchtowerBlock: Gauge;
  private readonly watchAlerts: Counter;
  readonly http: Histogram;

  constructor(
    intentCounts: () => Promise<Record<string, number>>,
    queueCounts: () => Promise<Record<string, number>>,
  ) {
    const registers = [this.registry];
    new Gauge({
      name: 'custos_intents',
      help: 'Intents by workflow state',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        for (const [state, n] of Object.entries(await intentCounts())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'custos_jobs',
      help: 'Workflow jobs by status',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        for (const [status, n] of Object.entries(await queueCounts())) this.set({ status }, n);
      },
    });
    this.decision = new Histogram({
      name: 'custos_policy_decision_seconds',
      help: 'Policy evaluation latency',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.cosigner = new Histogram({
      name: 'custos_cosigner_request_seconds',
      help: 'Co-signer /v1/sign latency',
      labelNames: ['cosigner'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
      registers,
    });
    this.refusals = new Counter({
      name: 'custos_cosigner_refusals_total',
      help: 'Co-signer refusals by code',
      labelNames: ['cosigner', 'code'],
      registers,
    });
    this.watchtowerLag = new Gauge({
      name: 'custos_watchtower_lag_blocks',
      help: 'Blocks between chain head and the last block the watchtower checked',
      labelNames: ['chain'],
      registers,
    });
    this.watchtowerBlock = new Gauge({
      name: 'custos_watchtower_checked_block',
      help: 'Last block the watchtower checked',
      labelNames: ['chain'],
      registers,
    });
    this.watchAlerts = new Counter({
      name: 'custos_watchtower_alerts_total',
      help: 'Watchtower alerts (outflows or Safe changes Custos did not sign) by chain and code',
      labelNames: ['chain', 'code'],
      registers,
    });
    this.http = new Histogram({
      name: 'custos_http_request_seconds',
      help: 'HTTP API latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }

  decisionSeconds(s: number): void {
    this.decision.observe(s);
  }
  cosignerSeconds(cosigner: string, s: number): void {
    this.cosigner.observe({ cosigner }, s);
  }
  cosignerRefusal(cosigner: string, code: string): void {
    this.refusals.inc({ cosigner, code });
  }
  watchtowerAlert(chain: string, code: string): void {
    this.watchAlerts.inc({ chain, code });
  }
}
