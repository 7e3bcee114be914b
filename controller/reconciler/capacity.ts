/**
 * Live capacity of each route's pools (DESIGN §4): ready pods from the pod cache, free capacity either
 * from replicas × accelerators or polled from each ready pod. When the weights move enough, the CR is
 * queued and the normal render + apply path writes them: there is no side channel to the HTTPRoute.
 * The tracker learns each CR's pools from the CR cache (through the render core's `capacityTarget`), not
 * from reconciles: a reconcile only reads the current weights.
 */
import { Logger } from 'pino';
import { Gauge, Counter } from 'prom-client';
import { Capacity, isKind, KINDS, KubeObject, PoolStatus } from '../../manifests/api.js';
import { LABELS } from '../../manifests/names.js';
import { CapacityTarget, RenderedPool } from '../../manifests/render.js';
import { PoolCapacity, WeightState, Weights, computeWeights, weightsChanged } from '../../manifests/weights.js';
import { Informer } from '../kube/informer.js';
import { METRIC_FIELD, pollCapacity } from '../common/pod-http.js';
import { Metrics } from '../common/metrics.js';
import { queueKey } from './keys.js';
import { objectKey } from '../kube/resources.js';

/** A route is rewritten at most this often. */
export const MIN_REWRITE_INTERVAL_MS = 2000;
const MAX_CONCURRENT_POLLS = 32;

/** What the status reports about the weights currently on the route. */
export interface CapacitySnapshot {
  readonly pools: readonly PoolStatus[];
  readonly state: WeightState;
}

interface RouteState {
  readonly key: string;
  namespace: string;
  instance: string;
  pools: readonly RenderedPool[];
  capacity: Capacity;
  /** Weights on the route (or about to be), and the capacity they were computed from. */
  current?: Weights & { readonly observed: readonly PoolCapacity[] };
  lastRewrite: number;
  deferred?: NodeJS.Timeout;
  poller?: NodeJS.Timeout;
  /** Last polled value per pod name (endpoint source). */
  readonly polled: Map<string, number>;
}

export class CapacityMetrics {
  public readonly weight: Gauge;
  public readonly polls: Counter;
  public readonly pollFailures: Counter;

  public constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.weight = new Gauge({ name: 'agentway_backend_weight', help: 'Route weight of each pool', labelNames: ['namespace', 'kind', 'name', 'pool'], registers });
    this.polls = new Counter({ name: 'agentway_capacity_polls_total', help: 'Capacity polls of pods', registers });
    this.pollFailures = new Counter({ name: 'agentway_capacity_poll_failures_total', help: 'Capacity polls that failed or timed out', registers });
  }
}

/** Limits how many polls run at once across all routes. */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  public constructor(private readonly max: number) {}
  public async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function isReady(pod: KubeObject): boolean {
  return !pod.metadata.deletionTimestamp && !!pod.status?.podIP
    && (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
}

/** A pod as the capacity tracker needs it: identity, labels, IP and Ready condition; the rest is not cached. */
export function slimPod(pod: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp, ownerReferences } = pod.metadata;
  return {
    apiVersion: pod.apiVersion, kind: pod.kind,
    metadata: { name, namespace, uid, resourceVersion, labels, deletionTimestamp, ownerReferences },
    status: {
      podIP: pod.status?.podIP,
      conditions: (pod.status?.conditions ?? []).filter((c: { type: string }) => c.type === 'Ready'),
    },
  };
}

export class CapacityTracker {
  private readonly routes = new Map<string, RouteState>();
  private readonly semaphore = new Semaphore(MAX_CONCURRENT_POLLS);
  private readonly metrics: CapacityMetrics;
  private stopped = false;

  /** `pods` must index the instance label (`indexLabel: LABELS.instance`). */
  public constructor(
    private readonly pods: Informer,
    private readonly enqueue: (key: string) => void,
    metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.metrics = new CapacityMetrics(metrics);
    pods.onChange((_key, obj, old) => this.onPod(obj ?? old));
  }

  private onPod(pod: KubeObject | undefined): void {
    const labels = pod?.metadata.labels ?? {};
    const kind = labels[LABELS.component];
    const instance = labels[LABELS.instance];
    if (!pod || !isKind(kind) || !instance) return;
    const prefix = `${KINDS[kind].segment}-`;
    if (!instance.startsWith(prefix)) return;
    const state = this.routes.get(queueKey(kind, pod.metadata.namespace, instance.slice(prefix.length)));
    if (state) this.recompute(state);
  }

  /**
   * Called with each change of a CR in the cache: its pools and how to measure them, or undefined when it
   * has no weighted route (or is gone).
   */
  public track(key: string, target: CapacityTarget | undefined): void {
    if (!target) { this.forget(key); return; }
    let state = this.routes.get(key);
    const isNew = !state;
    state ??= { key, namespace: target.namespace, instance: target.instance, pools: [], capacity: target.capacity, lastRewrite: 0, polled: new Map() };
    const poolsChanged = !isNew && JSON.stringify(state.pools) !== JSON.stringify(target.pools);
    const intervalChanged = state.capacity.intervalSeconds !== target.capacity.intervalSeconds || state.capacity.source !== target.capacity.source;
    state.namespace = target.namespace;
    state.instance = target.instance;
    state.pools = target.pools;
    state.capacity = target.capacity;
    this.routes.set(key, state);
    if (state.capacity.source === 'endpoint') {
      if (!state.poller || intervalChanged) this.startPolling(state);
    } else if (state.poller) {
      clearInterval(state.poller);
      state.poller = undefined;
      state.polled.clear();
    }
    if (isNew || poolsChanged) this.recompute(state);
  }

  /** Stops tracking a CR that is gone or has no route. */
  public forget(key: string): void {
    const state = this.routes.get(key);
    if (!state) return;
    if (state.poller) clearInterval(state.poller);
    if (state.deferred) clearTimeout(state.deferred);
    this.routes.delete(key);
  }

  /** The weights to render for a CR; undefined until its capacity has been observed. */
  public weightsFor(key: string): Readonly<Record<string, number>> | undefined {
    return this.routes.get(key)?.current?.weights;
  }

  public snapshot(key: string): CapacitySnapshot | undefined {
    const cur = this.routes.get(key)?.current;
    if (!cur) return undefined;
    return {
      state: cur.state,
      pools: cur.observed.map((p) => ({ name: p.name, ready: p.ready, capacity: p.capacity, weight: cur.weights[p.name] ?? 0 })),
    };
  }

  private readyPods(state: RouteState, pool: string): KubeObject[] {
    return this.pods.byLabel(state.instance).filter((p) => p.metadata.namespace === state.namespace
      && p.metadata.labels?.[LABELS.pool] === pool && isReady(p));
  }

  private observe(state: RouteState): PoolCapacity[] {
    return state.pools.map((pool) => {
      const ready = this.readyPods(state, pool.name);
      const capacity = state.capacity.source === 'replicas'
        ? ready.length * Math.max(1, pool.gpu)
        : ready.reduce((sum, p) => sum + (state.polled.get(objectKey(p.metadata.namespace, p.metadata.name)) ?? 0), 0);
      return { name: pool.name, ready: ready.length, capacity };
    });
  }

  /** Recomputes a route's weights; queues its CR when they moved enough and the route may be rewritten. */
  private recompute(state: RouteState): void {
    if (this.stopped || this.routes.get(state.key) !== state) return;
    const observed = this.observe(state);
    const next = computeWeights(observed);
    const cur = state.current;
    if (cur && !weightsChanged(cur.weights, next.weights) && cur.state === next.state) return;
    const wait = state.lastRewrite + MIN_REWRITE_INTERVAL_MS - this.now();
    if (cur && wait > 0) {
      state.deferred ??= setTimeout(() => { state.deferred = undefined; this.recompute(state); }, wait);
      return;
    }
    state.current = { ...next, observed };
    state.lastRewrite = this.now();
    const [kind, , name] = state.key.split('/');
    for (const [pool, w] of Object.entries(next.weights)) this.metrics.weight.set({ namespace: state.namespace, kind, name, pool }, w);
    this.enqueue(state.key);
  }

  private startPolling(state: RouteState): void {
    if (state.poller) clearInterval(state.poller);
    const tick = () => void this.pollOnce(state);
    state.poller = setInterval(tick, state.capacity.intervalSeconds * 1000);
    state.poller.unref();
    tick();
  }

  private async pollOnce(state: RouteState): Promise<void> {
    const field = METRIC_FIELD[state.capacity.metric];
    const jobs = state.pools.flatMap((pool) => this.readyPods(state, pool.name).map((pod) => ({ pod, port: pool.port })));
    const seen = new Set<string>();
    await Promise.all(jobs.map(({ pod, port }) => this.semaphore.run(async () => {
      const key = objectKey(pod.metadata.namespace, pod.metadata.name);
      seen.add(key);
      this.metrics.polls.inc();
      const value = await pollCapacity(`http://${pod.status.podIP}:${port}${state.capacity.path}`, field);
      if (value === undefined) this.metrics.pollFailures.inc();
      state.polled.set(key, value ?? 0);
    })));
    for (const key of [...state.polled.keys()]) if (!seen.has(key)) state.polled.delete(key);
    this.log.debug({ route: state.key, polled: Object.fromEntries(state.polled) }, 'capacity polled');
    this.recompute(state);
  }

  public stop(): void {
    this.stopped = true;
    for (const key of [...this.routes.keys()]) this.forget(key);
  }
}
