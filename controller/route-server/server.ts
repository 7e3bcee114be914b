/**
 * The route server (DESIGN §5): per-client pods on demand. It answers Traefik forwardAuth on /api/route and
 * the Gateway-native catch-all path of each ClientPool, creates ClientInstances on first request, records
 * activity, and deletes instances idle longer than their pool's idleTimeout. Existing instances are
 * answered from the informer cache alone. This file wires the parts together and owns the listener.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from 'pino';
import { PORTS, ROUTE_SERVER_NAME } from '../../manifests/defaults.js';
import { boundPort, listen } from '../common/http-server.js';
import { ApiEventRecorder } from '../kube/events.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { ourType } from '../kube/resources.js';
import { Activity } from './activity.js';
import { ApiKeyIndex } from './api-keys.js';
import { RouteHandler } from './http-handler.js';
import { RouteMetrics } from './metrics.js';
import { Provisioner } from './provisioning.js';
import { UpstreamOf, clusterUpstream } from './proxy.js';

export { CLIENT_LABEL, INSTANCE_LABEL } from './provisioning.js';

export interface RouteServerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Serve one namespace's pools only. @default all namespaces */
  readonly namespace?: string;
  /** @default PORTS.routeServer; 0 picks a free port */
  readonly port?: number;
  /** Address to bind. @default every interface */
  readonly host?: string;
  /** A client must have sent its request headers within this time. @default 10 s */
  readonly headersTimeoutMs?: number;
  /** A client must have sent its whole request within this time. @default 60 s */
  readonly requestTimeoutMs?: number;
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
  readonly upstream?: UpstreamOf;
  /** Name of this replica, for Events. @default ROUTE_SERVER_NAME */
  readonly identity?: string;
  readonly now?: () => number;
}

export class RouteServer {
  private readonly pools: Informer;
  private readonly instances: Informer;
  private readonly keys: ApiKeyIndex;
  private readonly metrics = new RouteMetrics();
  private readonly activity: Activity;
  private readonly handler: RouteHandler;
  private server?: http.Server;
  /** Bound address and port, once started. */
  public address = '';
  public port = 0;

  public constructor(private readonly opts: RouteServerOptions) {
    const { client, log, namespace } = opts;
    const now = opts.now ?? Date.now;
    this.pools = new Informer(client, { type: ourType('ClientPool'), namespace, log });
    this.instances = new Informer(client, { type: ourType('ClientInstance'), namespace, log });
    const events = new ApiEventRecorder(client, opts.identity ?? ROUTE_SERVER_NAME, () => new Date(now()), log);
    this.keys = new ApiKeyIndex(client, this.pools, log, events);
    this.activity = new Activity({
      client, log, pools: this.pools, instances: this.instances, metrics: this.metrics, now,
      flushMs: opts.activityFlushMs, reapIntervalMs: opts.reapIntervalMs,
    });
    const provisioner = new Provisioner({
      client, pools: this.pools, instances: this.instances, activity: this.activity, metrics: this.metrics, now,
      perSecond: opts.provisionPerSecond, burst: opts.provisionBurst, retryAfterSeconds: opts.retryAfterSeconds,
    });
    this.handler = new RouteHandler({ keys: this.keys, provisioner, metrics: this.metrics, log, upstream: opts.upstream ?? clusterUpstream });
  }

  /** Starts the caches, the HTTP server, activity flushing and the idle reaper. */
  public async start(): Promise<void> {
    this.pools.start();
    this.instances.start();
    await Promise.all([this.pools.synced, this.instances.synced]);
    await this.keys.synced();
    this.server = await listen((req, res) => this.handler.handle(req, res), {
      port: this.opts.port ?? PORTS.routeServer, host: this.opts.host, log: this.opts.log,
      headersTimeoutMs: this.opts.headersTimeoutMs, requestTimeoutMs: this.opts.requestTimeoutMs,
    });
    this.port = boundPort(this.server);
    this.address = (this.server.address() as AddressInfo).address;
    this.activity.start();
  }

  public async stop(): Promise<void> {
    this.activity.stop();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    this.server?.closeAllConnections();
    await Promise.all([this.pools.stop(), this.instances.stop(), this.keys.stop()]);
  }
}
