/**
 * Model discovery (DESIGN §8): every ModelAPI's ready endpoints are asked for `GET /v1/models` every 30 s,
 * and at once when its `agentway.dev/discover-at` annotation changes; the answers become
 * `status.discoveredModels`, which the model router reads. Only this field of the status is written, and
 * only when it changed; when no endpoint answers, the last answer stands.
 */
import { Logger } from 'pino';
import { DISCOVER_AT_ANNOTATION, DiscoveredModel, KubeObject, ModelAPI } from '../../manifests/api.js';
import { objectName, LABELS } from '../../manifests/names.js';
import { renderedPools } from '../../manifests/pools.js';
import { getJson } from '../common/pod-http.js';
import { address, matchesSelector, podReady, sliceAddresses } from '../kube/endpoints.js';
import { Informer } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { STATUS_MANAGERS, applyStatus } from '../kube/status-apply.js';
import { objectKey } from '../kube/resources.js';

/** How long one endpoint may take to answer `GET /v1/models`. */
export const DISCOVERY_TIMEOUT_MS = 2000;

export interface DiscoveryOptions {
  readonly client: KubeClient;
  readonly modelApis: Informer;
  /** Pods of rendered pools, indexed by the instance label. */
  readonly pods: Informer;
  readonly log: Logger;
  /** @default 30 s */
  readonly intervalMs?: number;
}

/** The models one server lists on `GET /v1/models` (OpenAI shape), or undefined when it does not answer so. */
export async function fetchModels(addr: string, timeoutMs = DISCOVERY_TIMEOUT_MS): Promise<DiscoveredModel[] | undefined> {
  const data = ((await getJson(`http://${addr}/v1/models`, timeoutMs)) as { data?: unknown } | null | undefined)?.data;
  if (!Array.isArray(data)) return undefined;
  return data.filter((m) => typeof m?.id === 'string' && m.id !== '' && m.id.length <= 256).map((m) => ({
    id: m.id, ...(typeof m.owned_by === 'string' && m.owned_by !== '' ? { ownedBy: m.owned_by.slice(0, 63) } : {}),
  }));
}

/** Union of the servers' answers, one entry per (id, engine), sorted. */
export function mergeDiscovered(answers: readonly (readonly DiscoveredModel[])[]): DiscoveredModel[] {
  const byKey = new Map<string, DiscoveredModel>();
  for (const list of answers) for (const m of list) byKey.set(`${m.id}\u0000${m.ownedBy ?? ''}`, m);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
}

export class ModelDiscovery {
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly inflight = new Map<string, Promise<void>>();
  private sliceVersion?: string;

  public constructor(private readonly opts: DiscoveryOptions) {
    opts.modelApis.onChange((key, obj, old) => {
      const at = obj?.metadata.annotations?.[DISCOVER_AT_ANNOTATION];
      if (this.running && obj && at !== undefined && at !== old?.metadata.annotations?.[DISCOVER_AT_ANNOTATION]) void this.discover(key);
    });
  }

  /** Starts the rounds; the first runs at once. */
  public start(): void {
    if (this.running) return;
    this.running = true;
    const round = () => { for (const o of this.opts.modelApis.list()) void this.discover(objectKey(o.metadata.namespace, o.metadata.name)); };
    this.timer = setInterval(round, this.opts.intervalMs ?? 30_000);
    this.timer.unref();
    round();
  }

  public async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.inflight.values());
  }

  /** Discovers one ModelAPI now (once at a time per ModelAPI). */
  public discover(key: string): Promise<void> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.discoverOnce(key).catch((err) => {
        this.opts.log.warn({ modelapi: key, err: (err as Error).message }, 'model discovery failed');
      }).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async discoverOnce(key: string): Promise<void> {
    const cr = this.opts.modelApis.get(key) as ModelAPI | undefined;
    if (!cr?.spec || cr.metadata.deletionTimestamp) return;
    const addrs = await this.endpoints(cr);
    const answers = (await Promise.all(addrs.map((a) => fetchModels(a)))).filter((a): a is DiscoveredModel[] => a !== undefined);
    if (answers.length === 0 || !this.running) return;
    const models = mergeDiscovered(answers);
    const live = this.opts.modelApis.get(key);
    if (!live || JSON.stringify(live.status?.discoveredModels ?? []) === JSON.stringify(models)) return;
    await applyStatus(this.opts.client, cr, { discoveredModels: models }, STATUS_MANAGERS.discovery);
    this.opts.log.info({ modelapi: key, models: models.map((m) => m.id) }, 'discovered models');
  }

  /** Ready endpoints: the pods of its pools, or the EndpointSlices of the Services its backend selects. */
  private async endpoints(cr: ModelAPI): Promise<string[]> {
    const ns = cr.metadata.namespace ?? 'default';
    if (!cr.spec.backend) {
      const pods = this.opts.pods.byLabel(objectName('ModelAPI', cr.metadata.name)).filter((p) => p.metadata.namespace === ns && podReady(p));
      return renderedPools(cr).flatMap((pool) => pods
        .filter((p) => p.metadata.labels?.[LABELS.pool] === pool.name)
        .map((p) => address(p.status.podIP, pool.port)));
    }
    const { selector, port } = cr.spec.backend;
    const services = (await this.opts.client.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}/services`)).items
      .filter((s) => matchesSelector(s.metadata.labels, selector ?? {}));
    const out: string[] = [];
    for (const svc of services) {
      const slices = await this.slices(ns, svc.metadata.name);
      out.push(...sliceAddresses({ ...svc, metadata: { ...svc.metadata, namespace: ns } }, slices, port));
    }
    return [...new Set(out)];
  }

  /** A Service's EndpointSlices, from `discovery.k8s.io/v1` or, where only that is served, `v1beta1`. */
  private async slices(ns: string, service: string): Promise<KubeObject[]> {
    const list = (version: string) => this.opts.client.request<{ items: KubeObject[] }>('GET', `/apis/discovery.k8s.io/${version}/namespaces/${encodeURIComponent(ns)}/endpointslices`, {
      query: { labelSelector: `kubernetes.io/service-name=${service}` },
    });
    if (this.sliceVersion) return (await list(this.sliceVersion)).items;
    try {
      const items = (await list('v1')).items;
      this.sliceVersion = 'v1';
      return items;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      this.sliceVersion = 'v1beta1';
      return (await list('v1beta1')).items;
    }
  }
}
