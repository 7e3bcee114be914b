/** The route server's Prometheus metrics. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class RouteMetrics {
  public readonly registry = new Registry();
  public readonly requests: Counter;
  public readonly latency: Histogram;
  public readonly provisioned: Counter;
  public readonly activityWrites: Counter;
  public readonly handlerErrors: Counter;

  public constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'agentway_route_requests_total', help: 'Route server answers by endpoint and status code', labelNames: ['endpoint', 'code'], registers });
    this.latency = new Histogram({
      name: 'agentway_route_request_duration_seconds', help: 'Route server answer time', labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1], registers,
    });
    this.activityWrites = new Counter({ name: 'agentway_client_activity_writes_total', help: 'lastActivityTime writes', registers });
    this.provisioned = new Counter({ name: 'agentway_client_instances_created_total', help: 'ClientInstances created on first request', registers });
    this.handlerErrors = new Counter({ name: 'agentway_route_handler_errors_total', help: 'Requests that failed with an unexpected error (answered 500)', registers });
  }
}
