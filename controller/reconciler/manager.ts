/**
 * The controller process: informers feed one work queue, N workers reconcile keys from it, a Lease elects
 * the one active replica, and HTTP endpoints serve probes and metrics.
 */
import http from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Logger } from 'pino';
import { ALL_KINDS, Kind, KubeObject, MODEL_ACCESS_INFO } from '../../manifests/api.js';
import { RenderConfig } from '../../manifests/config.js';
import { capacityTarget, renderShared } from '../../manifests/render.js';
import { LABELS, MANAGED_BY } from '../../manifests/names.js';
import { SHARED_KEY, reconcileShared } from './shared.js';
import { CapacityTracker, slimPod } from './capacity.js';
import { PART_OF_LABEL, slimChild } from './child-cache.js';
import { ModelDiscovery } from './discovery.js';
import { ApiEventRecorder } from '../kube/events.js';
import { Informer } from '../kube/informer.js';
import { ApiError, KubeClient, errorDetail } from '../kube/kube-client.js';
import { LeaderElector } from '../kube/leader.js';
import { boundPort, listen } from '../common/http-server.js';
import { Metrics } from '../common/metrics.js';
import { WorkQueue } from '../kube/queue.js';
import { Deps, Outcome, reconcile, takeWaiting } from './reconcile.js';
import { parseQueueKey, queueKey } from './keys.js';
import { MODEL_ACCESS_TYPE, objectKey, ourType, resourcePath, resourceType } from '../kube/resources.js';

export interface ManagerOptions {
  readonly client: KubeClient;
  readonly config: RenderConfig;
  readonly log: Logger;
  /** Watch and reconcile one namespace only. @default all namespaces */
  readonly namespace?: string;
  /** @default 4 */
  readonly workers?: number;
  /** Name of this replica, for the Lease and Events. */
  readonly identity: string;
  /** Lease to elect a leader on; false runs without election. */
  readonly leaderElection: { readonly namespace: string; readonly name: string; readonly leaseDurationMs?: number; readonly retryPeriodMs?: number; readonly renewDeadlineMs?: number } | false;
  /** Every CR is reconciled again this often. @default 10 min */
  readonly resyncMs?: number;
  /** Port of /metrics; undefined serves none, 0 picks a free port. */
  readonly metricsPort?: number;
  /** Port of /healthz and /readyz; undefined serves none, 0 picks a free port. */
  readonly probePort?: number;
  /** Address the metrics and probe endpoints bind. @default every interface */
  readonly host?: string;
  readonly clock?: () => Date;
  /** ModelAPIs' servers are asked for their models this often. @default 30 s */
  readonly discoveryIntervalMs?: number;
  /** Called when leadership is lost after it was held; the default exits the process, as controller-runtime does. */
  readonly onLostLeadership?: () => void;
}

const CHILD_KINDS = [
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' },
  // A ClientPool's grant to the route server to read its key Secret.
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
] as const;

const TIMEOUT_FEATURE = 'HTTPRouteRequestTimeout';

/**
 * Whether a GatewayClass supports route request timeouts: undefined when it does not say (the field is in
 * Gateway API's experimental channel only), so routes keep their timeouts.
 */
export function requestTimeoutsSupported(gatewayClass: { status?: { supportedFeatures?: unknown[] } } | undefined): boolean | undefined {
  const features = gatewayClass?.status?.supportedFeatures;
  if (!Array.isArray(features)) return undefined;
  // Gateway API 1.1 listed plain names; 1.2 and later list objects with a name.
  return features.some((f) => (typeof f === 'string' ? f : (f as { name?: string } | null)?.name) === TIMEOUT_FEATURE);
}

export class Manager {
  public readonly metrics = new Metrics();
  public readonly queue: WorkQueue;
  private readonly crs = new Map<Kind, Informer>();
  private readonly children = new Map<string, Informer>();
  private readonly modelAccesses: Informer;
  private readonly elector?: LeaderElector;
  private readonly pods: Informer;
  private readonly capacity: CapacityTracker;
  private readonly discovery: ModelDiscovery;
  private readonly servers: http.Server[] = [];
  private readonly workers: Promise<void>[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private config: RenderConfig;
  private readonly deps: Deps;
  private readonly conflicts = new Map<string, Set<string>>();
  private synced = false;
  private stopped = false;
  /** Ports the HTTP endpoints listen on, once started. */
  public readonly ports: { metrics?: number; probes?: number } = {};

  public constructor(private readonly opts: ManagerOptions) {
    this.config = opts.config;
    const name = 'agentway';
    this.queue = new WorkQueue({
      onAdd: () => this.metrics.queueAdds.inc({ name }),
      onRetry: () => this.metrics.queueRetries.inc({ name }),
      onDepth: (d) => this.metrics.queueDepth.set({ name }, d),
    });
    const { client, log, namespace } = opts;
    for (const kind of ALL_KINDS) {
      const informer = new Informer(client, { type: ourType(kind), namespace, log });
      informer.onChange((key, obj, old) => this.onCustomResource(kind, key, obj, old));
      this.crs.set(kind, informer);
    }
    for (const c of CHILD_KINDS) {
      const informer = new Informer(client, {
        type: resourceType(c.apiVersion, c.kind), namespace, log,
        labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`, indexLabel: PART_OF_LABEL, transform: slimChild,
      });
      informer.onChange((_key, obj, old) => this.onChild(obj ?? old, obj === undefined));
      this.children.set(c.kind, informer);
    }
    // A ModelAccess renders only the router's read access to its key Secret (a Role and its binding).
    this.modelAccesses = new Informer(client, { type: MODEL_ACCESS_TYPE, namespace, log });
    this.modelAccesses.onChange((key) => this.queue.add(`${MODEL_ACCESS_INFO.kind}/${key}`));
    const clock = opts.clock ?? (() => new Date());
    this.pods = new Informer(client, {
      type: resourceType('v1', 'Pod'), namespace, log, labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`, indexLabel: LABELS.instance,
      transform: slimPod,
    });
    // The route server's ReferenceGrants live in its namespace, whatever namespace the CRs are in.
    const grants = new Informer(client, {
      type: resourceType('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant'), namespace: opts.config.routeServer.namespace, log,
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`, transform: slimChild,
    });
    this.children.set('ReferenceGrant', grants);
    this.capacity = new CapacityTracker(this.pods, (key) => this.queue.add(key), this.metrics, log, () => clock().getTime());
    this.discovery = new ModelDiscovery({ client, modelApis: this.crs.get('ModelAPI')!, pods: this.pods, log, intervalMs: opts.discoveryIntervalMs });
    this.deps = {
      client, crs: this.crs, children: this.children, modelAccesses: this.modelAccesses, config: () => this.config, clock, log,
      events: new ApiEventRecorder(client, opts.identity, clock, log),
      capacity: this.capacity,
      conflicts: this.conflicts,
    };
    if (opts.leaderElection) {
      this.elector = new LeaderElector(client, {
        identity: opts.identity, clock, ...opts.leaderElection,
        onError: (err) => { if (err) this.metrics.leaseErrors.inc({ name: 'agentway' }); },
      }, log);
    }
  }

  public get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : !this.stopped;
  }

  private onCustomResource(kind: Kind, key: string, obj: KubeObject | undefined, old: KubeObject | undefined): void {
    // A new resourceVersion with the same generation is a status or metadata write (our own status write,
    // the route server's activity): nothing render reads has changed. A relist reports the same
    // resourceVersion again and is let through, so every key is reconciled after one.
    if (obj && old && obj.metadata.resourceVersion !== old.metadata.resourceVersion
      && obj.metadata.generation === old.metadata.generation
      && Boolean(obj.metadata.deletionTimestamp) === Boolean(old.metadata.deletionTimestamp)) return;
    this.queue.add(`${kind}/${key}`);
    this.capacity.track(`${kind}/${key}`, obj && !obj.metadata.deletionTimestamp ? capacityTarget(obj) : undefined);
    const cur = obj ?? old;
    if (!cur) return;
    const ns = cur.metadata.namespace;
    const name = cur.metadata.name;
    // Dependents are reconciled again when what they reference appears, changes or goes away.
    if (kind === 'ModelAPI' || kind === 'MCPServer') {
      for (const agent of this.crs.get('Agent')!.list()) {
        if (agent.metadata.namespace !== ns) continue;
        const refs = kind === 'ModelAPI' ? [agent.spec?.modelAPI] : (agent.spec?.mcpServers ?? []);
        if (refs.includes(name)) this.queue.add(queueKey('Agent', ns, agent.metadata.name));
      }
    }
    if (kind === 'ClientPool') {
      for (const inst of this.crs.get('ClientInstance')!.list()) {
        if (inst.metadata.namespace === ns && inst.spec?.pool === name) this.queue.add(queueKey('ClientInstance', ns, inst.metadata.name));
      }
    }
  }

  private onChild(obj: KubeObject | undefined, gone: boolean): void {
    const owner = obj?.metadata.ownerReferences?.find((r: any) => r.controller && String(r.apiVersion).startsWith('agentway.dev/'));
    if (owner) this.queue.add(queueKey(owner.kind, obj!.metadata.namespace, owner.name));
    // A CR refused because this object held its name may take the name now.
    if (obj && gone) for (const key of takeWaiting(this.conflicts, obj)) this.queue.add(key);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const controller = parseQueueKey(key).kind;
      const end = this.metrics.reconcileTime.startTimer({ controller });
      try {
        const out = key === SHARED_KEY ? await this.reconcileShared() : await reconcile(key, this.deps);
        this.metrics.objectWrites.inc({ controller }, out.writes);
        if (out.retry) {
          this.metrics.reconcileTotal.inc({ controller, result: 'requeue' });
          this.metrics.reconcileErrors.inc({ controller });
          this.opts.log.warn({ key, err: out.retry.detail }, 'reconcile will be retried');
          this.queue.addRateLimited(key, out.retry.maxDelayMs);
        } else {
          this.metrics.reconcileTotal.inc({ controller, result: 'success' });
          this.queue.forget(key);
        }
      } catch (err) {
        this.metrics.reconcileTotal.inc({ controller, result: 'error' });
        this.metrics.reconcileErrors.inc({ controller });
        this.opts.log.error({ key, err: errorDetail(err) }, 'reconcile failed');
        this.queue.addRateLimited(key);
      } finally {
        end();
        this.queue.done(key);
      }
      // A reconcile that finds everything in place never waits on I/O, and the queue hands out the next key
      // at once: without a turn of the event loop here, a resync of thousands of unchanged CRs would hold off
      // probes, metrics and watch events until the queue is empty.
      await nextTurn();
    }
  }

  /** Reads the GatewayClass's supportedFeatures: routes get no timeout where the Gateway would refuse them. */
  private async refreshGatewayFeatures(): Promise<void> {
    try {
      const gc = await this.opts.client.request('GET', resourcePath(resourceType('gateway.networking.k8s.io/v1', 'GatewayClass'), undefined, this.config.gateway.className));
      const supported = requestTimeoutsSupported(gc);
      if (supported !== undefined && supported !== this.config.gateway.requestTimeouts) {
        this.config = { ...this.config, gateway: { ...this.config.gateway, requestTimeouts: supported } };
        this.enqueueAll();
      }
    } catch (err) {
      if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 403)) {
        this.opts.log.warn({ err: errorDetail(err) }, 'could not read the GatewayClass');
      }
    }
  }

  /** The shared objects' turn in the queue: the GatewayClass's features first, then the Gateway. */
  private async reconcileShared(): Promise<Outcome> {
    await this.refreshGatewayFeatures();
    return reconcileShared(this.opts.client, renderShared(this.config), this.deps.events, (obj) => {
      this.metrics.sharedApplyFailures.inc({ kind: obj.kind });
    });
  }

  /** Queues every cached CR and ModelAccess, as the periodic resync does. */
  public enqueueAll(): void {
    for (const o of this.modelAccesses.list()) this.queue.add(queueKey(MODEL_ACCESS_INFO.kind, o.metadata.namespace, o.metadata.name));
    for (const [kind, informer] of this.crs) {
      for (const o of informer.list()) this.queue.add(queueKey(kind, o.metadata.namespace, o.metadata.name));
    }
  }

  private async serve(port: number | undefined, handler: http.RequestListener): Promise<number | undefined> {
    if (port === undefined) return undefined;
    const server = await listen(handler, { port, host: this.opts.host, log: this.opts.log });
    this.servers.push(server);
    return boundPort(server);
  }

  private async startServers(): Promise<void> {
    this.ports.probes = await this.serve(this.opts.probePort, (req, res) => {
      const leaseError = this.elector?.lastError;
      const ok = req.url === '/healthz' ? !this.stopped : req.url === '/readyz' ? this.synced && !this.stopped && !leaseError : undefined;
      // A replica that cannot read or write its Lease can never lead: not ready, and says why.
      const why = req.url === '/readyz' && leaseError ? `not ready: lease: ${errorDetail(leaseError)}\n` : 'not ready\n';
      res.writeHead(ok === undefined ? 404 : ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok === undefined ? 'not found\n' : ok ? 'ok\n' : why);
    });
    this.ports.metrics = await this.serve(this.opts.metricsPort, (req, res) => {
      if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType }).end(text),
        (err) => res.writeHead(500).end(String(err)),
      );
    });
  }

  private startWorkers(): void {
    this.metrics.leader.set({ name: 'agentway' }, 1);
    this.queue.add(SHARED_KEY);
    for (let i = 0; i < (this.opts.workers ?? 4); i++) this.workers.push(this.worker());
    this.discovery.start();
    this.resyncTimer = setInterval(() => {
      this.queue.add(SHARED_KEY);
      this.enqueueAll();
    }, this.opts.resyncMs ?? 600_000);
    this.resyncTimer.unref();
  }

  /** Starts caches and endpoints; reconciling begins once this replica leads. Resolves when caches are synced. */
  public async start(): Promise<void> {
    await this.startServers();
    for (const i of this.informers()) i.start();
    await Promise.all(this.informers().map((i) => i.synced));
    this.synced = true;
    if (this.elector) {
      void this.elector.run(() => this.startWorkers(), () => {
        this.metrics.leader.set({ name: 'agentway' }, 0);
        (this.opts.onLostLeadership ?? (() => process.exit(1)))();
      });
    } else {
      this.startWorkers();
    }
  }

  private informers(): Informer[] {
    return [...this.crs.values(), ...this.children.values(), this.pods, this.modelAccesses];
  }

  /** Cached CR, for tests and the route server. */
  public cached(kind: Kind, namespace: string, name: string): KubeObject | undefined {
    return this.crs.get(kind)?.get(objectKey(namespace, name));
  }

  public async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutdown();
    this.capacity.stop();
    await Promise.all([...this.workers, this.discovery.stop()]);
    await this.elector?.release();
    await Promise.all(this.informers().map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}
