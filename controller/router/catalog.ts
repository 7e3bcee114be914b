/**
 * What the router knows, from informer caches only: ModelAPIs, ModelRoutes, the pods of rendered pools,
 * and Services with their EndpointSlices for backends agentway does not run. Any change marks the view
 * stale; the next request rebuilds it once. Free capacity of `capacity.source: endpoint` backends is polled
 * from each endpoint, as the controller does for the route weights (§4).
 */
import { Logger } from 'pino';
import { DataClass, KubeObject, ModelAPI, ModelProvider, ModelRouteStrategy, Pricing } from '../../manifests/api.js';
import { durationMs, renderedPools } from '../../manifests/pools.js';
import { LABELS, objectName } from '../../manifests/names.js';
import { METRIC_FIELD, pollCapacity } from '../common/pod-http.js';
import { Informer } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { MODEL_ROUTE_TYPE, ResourceType, objectKey, ourType, typeOfKind } from '../kube/resources.js';
import { address, matchesSelector, podReady, sliceAddresses } from '../kube/endpoints.js';
import { ModelBackendInfo, RouteInfo, ServedModel } from './resolve.js';
import { Endpoint } from './select.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One backend: a ModelAPI or a Service named by a ModelRoute target. */
export interface Backend {
  readonly key: string;
  /** What `x-agentway-backend` says: `{namespace}/{modelapi}` or `{namespace}/{service}`. */
  readonly label: string;
  readonly endpoints: readonly Endpoint[];
  /** Upstream timeout; undefined for none. */
  readonly timeoutMs?: number;
  /** An external provider (DESIGN §9): its one endpoint stands for the provider's URL. */
  readonly provider?: ModelProvider;
  /** Highest data class it may receive (§9): its dataClass, else restricted in the cluster, public for a provider. */
  readonly dataClass: DataClass;
  readonly pricing?: Pricing;
}

/** The address of the one endpoint of a provider backend; never dialled, the provider's URL is. */
export const providerAddress = (key: string) => `provider:${key}`;

/** An immutable view of everything routing reads. */
export interface View {
  readonly backends: ReadonlyMap<string, Backend>;
  readonly modelApis: readonly ModelBackendInfo[];
  readonly routes: readonly RouteInfo[];
}

interface PollTarget { readonly url: string; readonly field: string; readonly intervalMs: number }

export interface CatalogOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Serve one namespace only. @default all namespaces */
  readonly namespace?: string;
  /** Upstream timeout of a ModelAPI without gatewayRoute.timeout. @default 120 s */
  readonly defaultTimeoutMs?: number;
}

const serviceKey = (namespace: string, name: string, port: number) => `${namespace}/service/${name}:${port}`;

function slimPod(pod: KubeObject): KubeObject {
  const { name, namespace, labels, deletionTimestamp, resourceVersion } = pod.metadata;
  return {
    apiVersion: pod.apiVersion, kind: pod.kind, metadata: { name, namespace, labels, deletionTimestamp, resourceVersion },
    status: { podIP: pod.status?.podIP, conditions: (pod.status?.conditions ?? []).filter((c: { type: string }) => c.type === 'Ready') },
  };
}

function slimService(svc: KubeObject): KubeObject {
  const { name, namespace, labels, resourceVersion } = svc.metadata;
  return { apiVersion: svc.apiVersion, kind: svc.kind, metadata: { name, namespace, labels, resourceVersion }, spec: { ports: svc.spec?.ports ?? [] } };
}

export class Catalog {
  public readonly modelApis: Informer;
  public readonly modelRoutes: Informer;
  private readonly pods: Informer;
  private readonly services: Informer;
  private slices?: Informer;
  private view?: View;
  private pollTargets = new Map<string, PollTarget>();
  /** Last polled capacity per capacity URL. */
  private readonly polled = new Map<string, number>();
  private readonly lastPoll = new Map<string, number>();
  private poller?: NodeJS.Timeout;
  /** Bumped on every change; the view remembers the one it was built at. */
  private version = 0;
  private builtAt = -1;
  private synced = false;

  public constructor(private readonly opts: CatalogOptions) {
    const { client, log, namespace } = opts;
    const stale = () => { this.version++; };
    this.modelApis = new Informer(client, { type: ourType('ModelAPI'), namespace, log });
    this.modelRoutes = new Informer(client, { type: MODEL_ROUTE_TYPE, namespace, log });
    this.pods = new Informer(client, {
      type: typeOfKind('Pod'), namespace, log, labelSelector: `${LABELS.component}=ModelAPI`, indexLabel: LABELS.instance, transform: slimPod,
    });
    this.services = new Informer(client, { type: typeOfKind('Service'), namespace, log, transform: slimService });
    for (const i of [this.modelApis, this.modelRoutes, this.pods, this.services]) i.onChange(stale);
  }

  /** Whether every cache has its first list. */
  public get ready(): boolean {
    return this.synced;
  }

  /** EndpointSlices as `discovery.k8s.io/v1`, or `v1beta1` where the server serves only that (Kubernetes < 1.21). */
  private async sliceType(): Promise<ResourceType> {
    try {
      await this.opts.client.request('GET', '/apis/discovery.k8s.io/v1');
      return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true };
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      return { apiVersion: 'discovery.k8s.io/v1beta1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true };
    }
  }

  public async start(): Promise<void> {
    const { client, log, namespace } = this.opts;
    this.slices = new Informer(client, { type: await this.sliceType(), namespace, log, indexLabel: SERVICE_NAME_LABEL });
    this.slices.onChange(() => { this.version++; });
    const all = [this.modelApis, this.modelRoutes, this.pods, this.services, this.slices];
    for (const i of all) i.start();
    await Promise.all(all.map((i) => i.synced));
    this.synced = true;
    this.poller = setInterval(() => void this.pollDue(), 250);
    this.poller.unref();
    this.current();
  }

  public async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    await Promise.all([this.modelApis, this.modelRoutes, this.pods, this.services, this.slices].map((i) => i?.stop()));
  }

  /** The view as of the last change. */
  public current(): View {
    if (!this.view || this.builtAt !== this.version) {
      this.builtAt = this.version;
      this.view = this.build();
    }
    return this.view;
  }

  private serviceAddresses(namespace: string, svc: KubeObject, port: number): string[] {
    const slices = this.slices?.byLabel(svc.metadata.name).filter((s) => s.metadata.namespace === namespace) ?? [];
    return sliceAddresses(svc, slices, port);
  }

  private build(): View {
    const backends = new Map<string, Backend>();
    const modelApis: ModelBackendInfo[] = [];
    const polls = new Map<string, PollTarget>();
    const defaultTimeoutMs = this.opts.defaultTimeoutMs ?? 120_000;
    for (const obj of this.modelApis.list()) {
      const cr = obj as ModelAPI;
      if (!cr.spec || cr.metadata.deletionTimestamp) continue;
      const namespace = cr.metadata.namespace ?? 'default';
      const key = objectKey(namespace, cr.metadata.name);
      const engine = cr.spec.ownedBy;
      const models: ServedModel[] = [
        ...(cr.spec.models ?? []).map((id) => ({ id, engine })),
        ...(cr.status?.discoveredModels ?? []).filter((d) => typeof d?.id === 'string').map((d) => ({ id: d.id, engine: engine ?? d.ownedBy })),
      ];
      modelApis.push({ key, models, created: Math.floor((Date.parse(String(cr.metadata.creationTimestamp ?? '')) || 0) / 1000) });
      const capacity = cr.spec.capacity ?? { source: 'replicas', path: '/capacity', metric: 'gpus', intervalSeconds: 2 };
      const endpointCapacity = (addr: string, gpu: number) => {
        if (capacity.source !== 'endpoint') return Math.max(1, gpu);
        const url = `http://${addr}${capacity.path}`;
        polls.set(url, { url, field: METRIC_FIELD[capacity.metric] ?? 'available_gpus', intervalMs: capacity.intervalSeconds * 1000 });
        return this.polled.get(url) ?? 0;
      };
      const endpoints: Endpoint[] = [];
      if (cr.spec.provider) {
        // Always there, with no free capacity of its own: under the capacity strategy a provider takes a request
        // only when no in-cluster endpoint has room (least in-flight), and the only one when nothing else serves
        // the model. Its own availability shows as 429/5xx, which the priority strategy falls back on.
        endpoints.push({ address: providerAddress(key), backend: key, gpu: false, capacity: 0 });
      } else if (cr.spec.backend) {
        const gpu = cr.spec.resources?.gpu ?? 0;
        for (const svc of this.services.list()) {
          if (svc.metadata.namespace !== namespace || !matchesSelector(svc.metadata.labels, cr.spec.backend.selector ?? {})) continue;
          for (const addr of this.serviceAddresses(namespace, svc, cr.spec.backend.port)) {
            endpoints.push({ address: addr, backend: key, gpu: gpu > 0, capacity: endpointCapacity(addr, gpu) });
          }
        }
      } else {
        const pods = this.pods.byLabel(objectName('ModelAPI', cr.metadata.name)).filter((p) => p.metadata.namespace === namespace && podReady(p));
        for (const pool of renderedPools(cr)) {
          for (const pod of pods) {
            if (pod.metadata.labels?.[LABELS.pool] !== pool.name) continue;
            const addr = address(pod.status.podIP, pool.port);
            endpoints.push({ address: addr, backend: key, gpu: pool.gpu > 0, capacity: endpointCapacity(addr, pool.gpu) });
          }
        }
      }
      const timeout = cr.spec.gatewayRoute?.timeout;
      const timeoutMs = timeout !== undefined ? durationMs(timeout) : defaultTimeoutMs;
      backends.set(key, {
        key, label: key, endpoints: endpoints.sort((a, b) => (a.address < b.address ? -1 : 1)), timeoutMs: timeoutMs > 0 ? timeoutMs : undefined,
        ...(cr.spec.provider ? { provider: cr.spec.provider } : {}),
        dataClass: cr.spec.dataClass ?? (cr.spec.provider ? 'public' : 'restricted'),
        ...(cr.spec.pricing ? { pricing: cr.spec.pricing } : {}),
      });
    }
    const routes: RouteInfo[] = [];
    for (const r of this.modelRoutes.list()) {
      const namespace = r.metadata.namespace ?? 'default';
      const spec = r.spec ?? {};
      if (typeof spec.model !== 'string' || !Array.isArray(spec.targets)) continue;
      const targets = spec.targets.flatMap((t: any) => {
        let backend: string;
        if (typeof t?.modelAPI === 'string') backend = objectKey(namespace, t.modelAPI);
        else if (typeof t?.service?.name === 'string' && typeof t.service.port === 'number') {
          backend = serviceKey(namespace, t.service.name, t.service.port);
          if (!backends.has(backend)) {
            const svc = this.services.get(objectKey(namespace, t.service.name));
            const addrs = svc ? this.serviceAddresses(namespace, svc, t.service.port) : [];
            backends.set(backend, {
              // A Service in the cluster, like a ModelAPI that runs its own servers: restricted.
              key: backend, label: objectKey(namespace, t.service.name), timeoutMs: defaultTimeoutMs > 0 ? defaultTimeoutMs : undefined, dataClass: 'restricted',
              endpoints: addrs.map((a) => ({ address: a, backend, gpu: false, capacity: 1 })),
            });
          }
        } else return [];
        return [{ backend, model: typeof t.model === 'string' ? t.model : undefined, weight: Number(t.weight ?? 1), priority: Number(t.priority ?? 0) }];
      });
      routes.push({
        key: objectKey(namespace, r.metadata.name), model: spec.model, ownedBy: typeof spec.ownedBy === 'string' ? spec.ownedBy : undefined,
        strategy: (spec.strategy ?? 'capacity') as ModelRouteStrategy, targets,
      });
    }
    this.pollTargets = polls;
    for (const url of [...this.polled.keys()]) if (!polls.has(url)) { this.polled.delete(url); this.lastPoll.delete(url); }
    return { backends, modelApis, routes };
  }

  /** Polls every capacity endpoint whose interval has passed; a changed value makes the view stale. */
  private async pollDue(): Promise<void> {
    this.current();
    const now = Date.now();
    const due = [...this.pollTargets.values()].filter((t) => now - (this.lastPoll.get(t.url) ?? 0) >= t.intervalMs);
    for (const t of due) this.lastPoll.set(t.url, now);
    await Promise.all(due.map(async (t) => {
      const value = (await pollCapacity(t.url, t.field)) ?? 0;
      if (this.polled.get(t.url) !== value) {
        this.polled.set(t.url, value);
        this.version++;
      }
    }));
  }
}
