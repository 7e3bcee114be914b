/**
 * The route server's Prometheus metrics. Answers are counted on the request path in plain numbers, handed to
 * prom-client when /metrics is scraped; answer time is observed for one request in LATENCY_SAMPLE_EVERY per
 * endpoint, so prom-client's labelled histogram stays off most requests.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One request in this many (per endpoint) has its answer time observed. */
export const LATENCY_SAMPLE_EVERY = 16;

export class RouteMetrics {
  public readonly registry = new Registry();
  public readonly requests: Counter;
  public readonly latency: Histogram;
  public readonly provisioned: Counter;
  public readonly activityWrites: Counter;
  public readonly handlerErrors: Counter;
  /** Answers by endpoint, then status code, since start. */
  private readonly answers = new Map<string, Map<number, number>>();
  private readonly sampled = new Map<string, number>();

  public constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const answers = this.answers;
    this.requests = new Counter({
      name: 'agentway_route_requests_total', help: 'Route server answers by endpoint and status code', labelNames: ['endpoint', 'code'], registers,
      collect() {
        this.reset();
        for (const [endpoint, codes] of answers) for (const [code, n] of codes) this.inc({ endpoint, code }, n);
      },
    });
    this.latency = new Histogram({
      name: 'agentway_route_request_duration_seconds', help: `Route server answer time, one request in ${LATENCY_SAMPLE_EVERY} per endpoint sampled`, labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1], registers,
    });
    this.activityWrites = new Counter({ name: 'agentway_client_activity_writes_total', help: 'lastActivityTime writes', registers });
    this.provisioned = new Counter({ name: 'agentway_client_instances_created_total', help: 'ClientInstances created on first request', registers });
    this.handlerErrors = new Counter({ name: 'agentway_route_handler_errors_total', help: 'Requests that failed with an unexpected error (answered 500)', registers });
  }

  /** Counts one answer of `endpoint` with `code`. */
  public answered(endpoint: string, code: number): void {
    let codes = this.answers.get(endpoint);
    if (!codes) this.answers.set(endpoint, (codes = new Map()));
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }

  /** A timer that observes the answer time when called, for one request in LATENCY_SAMPLE_EVERY; else undefined. */
  public sampleLatency(endpoint: string): (() => void) | undefined {
    const n = this.sampled.get(endpoint) ?? 0;
    this.sampled.set(endpoint, n + 1 === LATENCY_SAMPLE_EVERY ? 0 : n + 1);
    if (n !== 0) return undefined;
    const start = process.hrtime.bigint();
    return () => this.latency.observe({ endpoint }, Number(process.hrtime.bigint() - start) / 1e9);
  }
}
