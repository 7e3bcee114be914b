/**
 * The answer for one client's instance: served from the informer cache when it exists (and belongs to that
 * client), else created once — however many requests ask for it at the same time — within the quotas.
 */
import { API_VERSION, KubeObject } from '../../manifests/api.js';
import { DEFAULT_WORKLOAD_PORT } from '../../manifests/defaults.js';
import { LABELS, clientInstanceName, isDnsLabel } from '../../manifests/names.js';
import { Informer } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { objectKey, ourType, resourcePath } from '../kube/resources.js';
import { Activity } from './activity.js';
import { ClientIdentity } from './api-keys.js';
import { RouteMetrics } from './metrics.js';
import { Quota } from './quota.js';
import { Mode, PreparedReply, Reply, prepare } from './reply.js';

export const CLIENT_LABEL = 'agentway.dev/client';
export const INSTANCE_LABEL = 'agentway.dev/instance';

export interface ProvisionerOptions {
  readonly client: KubeClient;
  readonly pools: Informer;
  readonly instances: Informer;
  readonly activity: Activity;
  readonly metrics: RouteMetrics;
  readonly now: () => number;
  /** New instances per second per pool. @default 10 */
  readonly perSecond?: number;
  /** Burst of new instances per pool. @default 20 */
  readonly burst?: number;
  /** Retry-After while an instance is provisioning. @default 2 */
  readonly retryAfterSeconds?: number;
}

const isReady = (inst: KubeObject) => (inst.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

/** Whether the cached instance is the one `who` asked for: its spec, not only its name, must say so. */
function belongsTo(inst: KubeObject, who: ClientIdentity, instance: string): boolean {
  return inst.spec?.pool === who.pool && inst.spec?.client === who.client && inst.spec?.instance === instance;
}

/** The 200 answer for a ready instance, and the instance's cache key. */
interface ReadyAnswer {
  readonly reply: PreparedReply;
  readonly key: string;
}

export class Provisioner {
  private readonly inflight = new Map<string, Promise<void>>();
  /**
   * forwardAuth's 200 answers for ready instances, by who asked for which instance: built once, since most
   * requests ask for an instance that is ready. Dropped whenever an instance or a pool changes.
   */
  private readonly readyAnswers = new Map<string, ReadyAnswer>();
  /** Created by us and not yet seen in the cache: counted against quotas, never created twice. */
  private readonly pending = new Map<string, ClientIdentity>();
  private readonly quota: Quota;

  public constructor(private readonly opts: ProvisionerOptions) {
    opts.instances.onChange((key, obj) => {
      if (obj) this.pending.delete(key);
      this.readyAnswers.clear();
    });
    opts.pools.onChange(() => this.readyAnswers.clear());
    this.quota = new Quota(opts.pools, opts.instances, () => this.pending.values(), { perSecond: opts.perSecond, burst: opts.burst, now: opts.now });
  }

  /** 400, 409, 404, 429, 202/503 (provisioning) or 200 with the pod headers. */
  public answer(who: ClientIdentity, instance: string, mode: Mode): Reply | Promise<Reply> {
    const asked = `${who.namespace}\u0000${who.pool}\u0000${who.client}\u0000${instance}`;
    const ready = mode === 'forwardAuth' ? this.readyAnswers.get(asked) : undefined;
    if (ready) {
      this.opts.activity.record(ready.key);
      return ready.reply;
    }
    if (!isDnsLabel(instance) || instance.length > 63) return { status: 400, body: 'instance id must be a DNS label' };
    const name = clientInstanceName(who.pool, who.client, instance);
    const key = objectKey(who.namespace, name);
    const existing = this.opts.instances.get(key);
    const provisioning = (): Reply => ({
      status: mode === 'forwardAuth' ? 202 : 503,
      headers: { 'Retry-After': String(this.opts.retryAfterSeconds ?? 2), 'X-Pod-Status': 'provisioning' },
      body: 'instance is being provisioned',
    });
    if (existing) {
      // An object of that name made by someone else is no instance of this client's.
      if (!belongsTo(existing, who, instance)) return { status: 409, body: 'the instance name is taken by another ClientInstance' };
      this.opts.activity.record(key);
      if (!isReady(existing)) return provisioning();
      // On the Gateway path a ready instance's own route is not programmed yet: the client comes back.
      if (mode === 'gateway') return { status: 503, headers: { 'Retry-After': '1', 'X-Pod-Status': 'routing' }, body: 'instance route is being programmed' };
      const pool = this.opts.pools.get(objectKey(who.namespace, who.pool));
      const reply = prepare({
        status: 200,
        headers: { 'X-Pod-Service': `client-${name}`, 'X-Pod-Namespace': who.namespace, 'X-Pod-Port': String(pool?.spec?.template?.port ?? DEFAULT_WORKLOAD_PORT) },
        body: 'ok',
      });
      this.readyAnswers.set(asked, { reply, key });
      return reply;
    }
    if (!this.pending.has(key) && !this.inflight.has(key)) {
      const denied = this.quota.check(who);
      if (denied) return denied;
    }
    return this.provision(who, instance, name, key).then(provisioning);
  }

  /** Creates the ClientInstance once, however many requests ask for it at the same time. */
  private provision(who: ClientIdentity, instance: string, name: string, key: string): Promise<void> {
    if (this.pending.has(key)) return Promise.resolve();
    let p = this.inflight.get(key);
    if (!p) {
      this.pending.set(key, who);
      p = this.opts.client.request('POST', resourcePath(ourType('ClientInstance'), who.namespace), {
        body: {
          apiVersion: API_VERSION, kind: 'ClientInstance',
          metadata: { name, namespace: who.namespace, labels: { [LABELS.clientPool]: who.pool, [CLIENT_LABEL]: who.client, [INSTANCE_LABEL]: instance } },
          spec: { pool: who.pool, client: who.client, instance },
        },
      }).then(
        () => { this.opts.metrics.provisioned.inc(); this.opts.activity.record(key); },
        (err) => {
          if (err instanceof ApiError && err.status === 409) return; // created meanwhile by another replica
          this.pending.delete(key);
          throw err;
        },
      ).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }
}
