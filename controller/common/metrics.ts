/** Prometheus metrics, named as controller-runtime names them where it has them. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  public readonly registry = new Registry();
  public readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'], registers: [this.registry],
  });
  public readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'], registers: [this.registry],
  });
  public readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry],
  });
  public readonly queueDepth = new Gauge({
    name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers: [this.registry],
  });
  public readonly queueAdds = new Counter({
    name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers: [this.registry],
  });
  public readonly queueRetries = new Counter({
    name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers: [this.registry],
  });
  public readonly objectWrites = new Counter({
    name: 'agentway_object_writes_total', help: 'Objects applied, deleted or status-patched by reconciles (writes the API server accepted)', labelNames: ['controller'], registers: [this.registry],
  });
  public readonly sharedApplyFailures = new Counter({
    name: 'agentway_shared_apply_failures_total', help: 'Failed applies of the shared objects (Gateway, Traefik routes)', labelNames: ['kind'], registers: [this.registry],
  });
  public readonly leaseErrors = new Counter({
    name: 'agentway_leader_election_errors_total', help: 'Failed reads or writes of the leader election Lease', labelNames: ['name'], registers: [this.registry],
  });
  public readonly leader = new Gauge({
    name: 'leader_election_master_status', help: 'Whether this instance is the leader (1) or not (0)', labelNames: ['name'], registers: [this.registry],
  });

  public constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
