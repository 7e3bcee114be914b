/**
 * The route server (DESIGN §5): per-client pods on demand. It answers Traefik forwardAuth on /api/route and
 * the Gateway-native catch-all path of each ClientPool, creates ClientInstances on first request, records
 * activity, and deletes instances idle longer than their pool's idleTimeout. Existing instances are
 * answered from the informer cache alone.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { API_VERSION } from '../../manifests/api.js';
import { LABELS, clientInstanceName, isDnsLabel } from '../../manifests/names.js';
import { deleteIfUnchanged } from '../reconciler/apply.js';
import { rfc3339 } from '../reconciler/status.js';
import { durationMs } from '../../manifests/render.js';
import { ApiKeyIndex, ClientIdentity } from './api-keys.js';
import { Informer, KubeObj } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { objectKey, ourType, resourcePath } from '../kube/resources.js';

export const CLIENT_LABEL = 'agentway.dev/client';
export const INSTANCE_LABEL = 'agentway.dev/instance';
const FORWARD_AUTH_URI = /^\/api\/v1\/([^/?#]+)\/instance\/([^/?#]+)(?:[/?#].*)?$/;

export interface RouteServerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Serve one namespace's pools only. @default all namespaces */
  readonly namespace?: string;
  /** @default 8090; 0 picks a free port */
  readonly port?: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** An instance's lastActivityTime is written at most this often. @default 30 s */
  readonly activityFlushMs?: number;
  /** How often idle instances are looked for. @default 10 s */
  readonly reapIntervalMs?: number;
  /** New instances per second per pool (token bucket). @default 10 */
  readonly provisionPerSecond?: number;
  /** Burst of new instances per pool. @default 20 */
  readonly provisionBurst?: number;
  /** Retry-After while an instance is provisioning. @default 2 */
  readonly retryAfterSeconds?: number;
  /**
   * Where a ready instance's Service is reached when the route server forwards a request itself.
   * @default `{service}.{namespace}.svc` on the Service port
   */
  readonly upstream?: (namespace: string, service: string, port: number) => { readonly host: string; readonly port: number };
  readonly now?: () => number;
}


class TokenBucket {
  private tokens: number;
  private last: number;
  public constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }
  public take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string;
}

const isReady = (inst: KubeObj) => (inst.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

export class RouteServer {
  private readonly pools: Informer;
  private readonly instances: Informer;
  private readonly keys: ApiKeyIndex;
  private readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly latency: Histogram;
  private readonly provisioned: Counter;
  private readonly flushes: Counter;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Created by us and not yet seen in the cache: counted against quotas, never created twice. */
  private readonly pending = new Map<string, ClientIdentity>();
  private readonly lastSeen = new Map<string, number>();
  private readonly lastFlushed = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private server?: http.Server;
  public port = 0;

  public constructor(private readonly opts: RouteServerOptions) {
    const { client, log, namespace } = opts;
    this.pools = new Informer(client, { type: ourType('ClientPool'), namespace, log });
    this.instances = new Informer(client, { type: ourType('ClientInstance'), namespace, log });
    this.instances.onChange((key, obj) => { if (obj) this.pending.delete(key); });
    this.keys = new ApiKeyIndex(client, this.pools, log);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'agentway_route_requests_total', help: 'Route server answers by endpoint and status code', labelNames: ['endpoint', 'code'], registers });
    this.latency = new Histogram({
      name: 'agentway_route_request_duration_seconds', help: 'Route server answer time', labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1], registers,
    });
    this.flushes = new Counter({ name: 'agentway_client_activity_writes_total', help: 'lastActivityTime writes', registers });
    this.provisioned = new Counter({ name: 'agentway_client_instances_created_total', help: 'ClientInstances created on first request', registers });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Starts the caches, the HTTP server, activity flushing and the idle reaper. */
  public async start(): Promise<void> {
    this.pools.start();
    this.instances.start();
    await Promise.all([this.pools.synced, this.instances.synced]);
    await this.keys.synced();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => this.server!.listen(this.opts.port ?? 8090, this.opts.host ?? '0.0.0.0', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    const flushEvery = Math.min(1000, this.opts.activityFlushMs ?? 30_000);
    this.timers.push(setInterval(() => void this.flushActivity(), flushEvery));
    this.timers.push(setInterval(() => void this.reapIdle(), this.opts.reapIntervalMs ?? 10_000));
    for (const t of this.timers) t.unref();
  }

  public async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    this.server?.closeAllConnections();
    await Promise.all([this.pools.stop(), this.instances.stop(), this.keys.stop()]);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (path === '/metrics') {
      void this.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text));
      return;
    }
    if (path.startsWith('/api/v1/')) return this.proxy(req, res);
    const endpoint = path === '/api/route' ? 'forwardAuth' : 'gateway';
    const end = this.latency.startTimer({ endpoint });
    const send = (r: Reply) => {
      this.requests.inc({ endpoint, code: r.status });
      res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8', ...(r.headers ?? {}) }).end(`${r.body}\n`);
      end();
    };
    const answer = endpoint === 'forwardAuth' ? this.forwardAuth(req) : this.gatewayNative(req, path);
    if (answer instanceof Promise) answer.then(send, (err) => {
      this.opts.log.error({ err: (err as Error).message }, 'route request failed');
      send({ status: 500, body: 'internal error' });
    });
    else send(answer);
  }

  /** Traefik forwardAuth: the original URI arrives in X-Forwarded-Uri as /api/v1/{apiKey}/instance/{id}/…. */
  private forwardAuth(req: http.IncomingMessage): Reply | Promise<Reply> {
    if (req.method !== 'GET' && req.method !== 'POST') return { status: 405, headers: { Allow: 'GET, POST' }, body: 'method not allowed' };
    const uri = req.headers['x-forwarded-uri'];
    return this.clientUri(typeof uri === 'string' ? uri : undefined);
  }

  /** Answers for `/api/v1/{apiKey}/instance/{instanceId}/…`: 400, 401, 429, 202, or 200 with the pod headers. */
  private clientUri(uri: string | undefined): Reply | Promise<Reply> {
    const m = uri === undefined ? null : FORWARD_AUTH_URI.exec(uri);
    if (!m) return { status: 400, body: 'the URI must be /api/v1/{apiKey}/instance/{instanceId}/...' };
    const identity = this.keys.lookup(decodeURIComponent(m[1]));
    if (!identity) return { status: 401, body: 'unknown API key' };
    return this.instance(identity, m[2], 'forwardAuth');
  }

  /**
   * A client request that reached the route server itself (Traefik's IngressRoute after forwardAuth, or a
   * client calling it directly): the same answers as forwardAuth, and once the instance is ready the
   * request is forwarded to its Service without the `/api/v1/{apiKey}/instance/{id}` prefix.
   */
  private proxy(req: http.IncomingMessage, res: http.ServerResponse): void {
    const end = this.latency.startTimer({ endpoint: 'proxy' });
    const finish = (r: Reply) => {
      this.requests.inc({ endpoint: 'proxy', code: r.status });
      res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8', ...(r.headers ?? {}) }).end(`${r.body}\n`);
      end();
    };
    const forward = (r: Reply) => {
      if (r.status !== 200) return finish(r);
      const h = r.headers!;
      const target = (this.opts.upstream ?? ((ns, svc, port) => ({ host: `${svc}.${ns}.svc`, port })))(h['X-Pod-Namespace'], h['X-Pod-Service'], Number(h['X-Pod-Port']));
      const rest = (req.url ?? '/').replace(/^\/api\/v1\/[^/?#]+\/instance\/[^/?#]+/, '') || '/';
      const headers = { ...req.headers, host: `${target.host}:${target.port}` };
      const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: rest.startsWith('/') ? rest : `/${rest}`, headers }, (up) => {
        this.requests.inc({ endpoint: 'proxy', code: up.statusCode ?? 502 });
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => end());
      });
      upstream.on('error', (err) => {
        this.opts.log.warn({ service: `${h['X-Pod-Namespace']}/${h['X-Pod-Service']}`, err: err.message }, 'instance did not answer');
        if (!res.headersSent) finish({ status: 502, body: 'instance did not answer' });
        else res.destroy();
      });
      req.pipe(upstream);
    };
    const answer = this.clientUri(req.url);
    if (answer instanceof Promise) answer.then(forward, () => finish({ status: 500, body: 'internal error' }));
    else forward(answer);
  }

  /** The pool's catch-all route: /{ns}/client/{pool}/{clientId}/{instanceId}/…, the key in a header. */
  private gatewayNative(req: http.IncomingMessage, path: string): Reply | Promise<Reply> {
    const parts = path.split('/');
    if (parts.length < 6 || parts[2] !== 'client') return { status: 404, body: 'not found' };
    const [, namespace, , pool, client, instance] = parts;
    const auth = req.headers.authorization;
    const presented = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-api-key'];
    const identity = typeof presented === 'string' ? this.keys.lookup(presented) : undefined;
    if (!identity || identity.namespace !== namespace || identity.pool !== pool || identity.client !== client) {
      return { status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'unknown API key for this client' };
    }
    return this.instance(identity, instance, 'gateway');
  }

  private instance(who: ClientIdentity, instance: string, mode: 'forwardAuth' | 'gateway'): Reply | Promise<Reply> {
    if (!isDnsLabel(instance) || instance.length > 63) return { status: 400, body: 'instance id must be a DNS label' };
    const name = clientInstanceName(who.pool, who.client, instance);
    const key = objectKey(who.namespace, name);
    const existing = this.instances.get(key);
    const provisioning: Reply = {
      status: mode === 'forwardAuth' ? 202 : 503,
      headers: { 'Retry-After': String(this.opts.retryAfterSeconds ?? 2), 'X-Pod-Status': 'provisioning' },
      body: 'instance is being provisioned',
    };
    if (existing) {
      this.lastSeen.set(key, this.now());
      if (!isReady(existing)) return provisioning;
      // On the Gateway path a ready instance's own route is not programmed yet: the client comes back.
      if (mode === 'gateway') return { status: 503, headers: { 'Retry-After': '1', 'X-Pod-Status': 'routing' }, body: 'instance route is being programmed' };
      const pool = this.pools.get(objectKey(who.namespace, who.pool));
      return {
        status: 200,
        headers: { 'X-Pod-Service': `client-${name}`, 'X-Pod-Namespace': who.namespace, 'X-Pod-Port': String(pool?.spec?.template?.port ?? 8000) },
        body: 'ok',
      };
    }
    const denied = this.quota(who, key);
    if (denied) return denied;
    return this.provision(who, instance, name, key).then(() => provisioning);
  }

  private quota(who: ClientIdentity, key: string): Reply | undefined {
    if (this.pending.has(key) || this.inflight.has(key)) return undefined;
    const pool = this.pools.get(objectKey(who.namespace, who.pool));
    if (!pool) return { status: 404, body: 'pool not found' };
    const mine = (o: { namespace?: string; pool?: string }) => o.namespace === who.namespace && o.pool === who.pool;
    const all = [
      ...this.instances.list().filter((i) => i.metadata.namespace === who.namespace && i.spec?.pool === who.pool)
        .map((i) => ({ namespace: i.metadata.namespace, pool: i.spec.pool, client: i.spec.client })),
      ...[...this.pending.values()].filter(mine),
    ];
    const perClient = pool.spec?.maxInstancesPerClient ?? 3;
    if (all.filter((i) => i.client === who.client).length >= perClient) {
      return { status: 429, body: `client has ${perClient} instances, the pool's maxInstancesPerClient` };
    }
    const perPool = pool.spec?.maxInstances ?? 100;
    if (all.length >= perPool) return { status: 429, body: `pool has ${perPool} instances, its maxInstances` };
    const bucketKey = objectKey(who.namespace, who.pool);
    let bucket = this.buckets.get(bucketKey);
    if (!bucket) this.buckets.set(bucketKey, (bucket = new TokenBucket(this.opts.provisionPerSecond ?? 10, this.opts.provisionBurst ?? 20, this.now())));
    if (!bucket.take(this.now())) return { status: 429, headers: { 'Retry-After': '1' }, body: 'too many new instances; slow down' };
    return undefined;
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
        () => { this.provisioned.inc(); this.lastSeen.set(key, this.now()); },
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

  /** Writes lastActivityTime of instances seen since their last write, at most once per flush interval. */
  private async flushActivity(): Promise<void> {
    const every = this.opts.activityFlushMs ?? 30_000;
    const now = this.now();
    for (const [key, seen] of this.lastSeen) {
      const flushed = this.lastFlushed.get(key) ?? 0;
      if (seen <= flushed || now - flushed < every) continue;
      const inst = this.instances.get(key);
      if (!inst) { this.lastSeen.delete(key); this.lastFlushed.delete(key); continue; }
      this.lastFlushed.set(key, now);
      this.flushes.inc();
      try {
        await this.opts.client.request('PATCH', `${resourcePath(ourType('ClientInstance'), inst.metadata.namespace, inst.metadata.name)}/status`, {
          body: { status: { lastActivityTime: rfc3339(new Date(seen)) } }, contentType: 'application/merge-patch+json',
        });
      } catch (err) {
        this.opts.log.warn({ instance: key, err: (err as Error).message }, 'could not record activity');
      }
    }
  }

  /** Deletes instances idle longer than their pool's idleTimeout; the garbage collector takes their children. */
  private async reapIdle(): Promise<void> {
    const now = this.now();
    for (const inst of this.instances.list()) {
      const key = objectKey(inst.metadata.namespace, inst.metadata.name);
      const pool = this.pools.get(objectKey(inst.metadata.namespace, inst.spec?.pool));
      if (!pool || inst.metadata.deletionTimestamp) continue;
      const idleMs = durationMs(pool.spec?.idleTimeout ?? '30m');
      const last = Math.max(
        this.lastSeen.get(key) ?? 0,
        Date.parse(inst.status?.lastActivityTime ?? '') || 0,
        Date.parse(inst.metadata.creationTimestamp ?? '') || 0,
      );
      if (idleMs <= 0 || now - last <= idleMs) continue;
      try {
        if (!await deleteIfUnchanged(this.opts.client, ourType('ClientInstance'), inst)) continue;
        this.lastSeen.delete(key);
        this.lastFlushed.delete(key);
        this.opts.log.info({ instance: key, idleSeconds: Math.round((now - last) / 1000) }, 'deleted idle instance');
      } catch (err) {
        this.opts.log.warn({ instance: key, err: (err as Error).message }, 'could not delete idle instance');
      }
    }
  }
}
