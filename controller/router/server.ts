/**
 * The model router (DESIGN §8): an OpenAI-compatible front that picks, per request, the backend serving the
 * asked model and engine and the endpoint with the most free capacity, and streams the answer back. It
 * reads informer caches only and keeps nothing but in-flight counts in memory, so replicas answer alike.
 */
import { hash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Pool, request as undiciRequest } from 'undici';
import { ModelRouteStrategy } from '../../manifests/api.js';
import { PORTS } from '../../manifests/defaults.js';
import { boundPort, listen } from '../common/http-server.js';
import { KubeClient } from '../kube/kube-client.js';
import { AdminApi } from './admin.js';
import { AnswerCounts } from './answer-counts.js';
import { objectKey } from '../kube/resources.js';
import { Backend, Catalog, View } from './catalog.js';
import { PolicySources } from './policy-sources.js';
import { AuditWriter } from './policy/audit.js';
import { CACHE_HEADER, CachedResponse, MemoryCache, RedisCache } from './policy/cache.js';
import { DATA_CLASS_HEADER } from './policy/data-class.js';
import { Admission, Policy, PolicyTarget, isCacheHit } from './policy/engine.js';
import { isPolicyError } from './policy/errors.js';
import { ClientLimiter } from './policy/limits.js';
import { LlmMetrics } from './policy/metrics.js';
import { openAIUsage } from './providers/http.js';
import { Operation, StreamTranslator, TranslationError, Usage, providerAdapter } from './providers/index.js';
import { PassThroughStream } from './providers/passthrough-stream.js';
import { Candidates, Refusal, RouteTargetInfo, RoutingAsk, modelList, resolve, routingAsk, sameEngine } from './resolve.js';
import { Endpoint, chooseEndpoint } from './select.js';

/** Bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
export const BACKEND_HEADER = 'x-agentway-backend';
const COMPLETION_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);
// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the router sets itself.
const DROP_REQUEST = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'content-length', 'expect']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

export interface RouterOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Serve one namespace only. @default all namespaces */
  readonly namespace?: string;
  /** OpenAI API port. @default PORTS.router; 0 picks a free port */
  readonly port?: number;
  /** Port of /metrics, /healthz and /readyz; undefined serves none. @default undefined */
  readonly metricsPort?: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** Upstream timeout of a ModelAPI without gatewayRoute.timeout. @default 120 s */
  readonly defaultTimeoutMs?: number;
  /** Retry-After of a 503. @default 1 */
  readonly retryAfterSeconds?: number;
  /** `namespace/name` of the Secret holding the admin bearer token (key `token`); without it the admin API is off. */
  readonly adminTokenSecret?: string;
  /** Port of the admin API. @default PORTS.routerAdmin; 0 picks a free port */
  readonly adminPort?: number;
  /** Redis shared by the replicas for limits and the response cache; absent = in memory, per replica. */
  readonly redisUrl?: string;
  /** Audit lines go to this file instead of stdout. */
  readonly auditFile?: string;
  /** Put prompt and completion text in audit lines. @default false */
  readonly auditContent?: boolean;
  /** Where audit lines go without auditFile. @default process.stdout */
  readonly auditStream?: NodeJS.WritableStream;
  /** Completion tokens reserved for a request without max_tokens. @default 1024 */
  readonly defaultMaxTokens?: number;
  /** How long cached answers are kept; 0 turns the cache off. @default 5 min */
  readonly cacheTtlMs?: number;
}

/** A candidate target with what the policy needs to know of it. */
type Candidate = RouteTargetInfo & PolicyTarget & { readonly model: string };

/** Who may serve an ask: the resolution and its targets as candidates. */
interface Routed { readonly ok: true; readonly resolution: Candidates; readonly candidates: readonly Candidate[] }
/** Bodies up to this size are known by their SHA-256, and kept parsed when they are cacheable. */
const KNOWN_BODY_BYTES = 64 * 1024;
/** Parsed cacheable bodies kept, counted in bytes of their JSON. */
const KNOWN_BODIES_BYTES = 8 * 1024 * 1024;
interface KnownBody { readonly body: Readonly<Record<string, unknown>>; readonly size: number }

/** A parsed JSON value made read-only all the way down, to be shared by the requests that send it. */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

/** Asks kept per view (a client chooses its engine string freely, so the count is bounded). */
const ROUTED_KEPT = 1024;

/** The path and query of a request. */
type RequestTarget = Pick<URL, 'pathname' | 'search' | 'searchParams'>;
const NO_QUERY = new URLSearchParams();
/** The exact completion paths as request targets, made once: nearly every request has one. */
const COMPLETION_TARGETS = new Map<string, RequestTarget>([...COMPLETION_PATHS].map((p) => [p, { pathname: p, search: '', searchParams: NO_QUERY }]));
/** Label sets of the latency histogram, one per completion path, made once. */
const LATENCY_LABELS = new Map([...COMPLETION_PATHS].map((p) => [p, { path: p }]));

/**
 * An exact completion path, which nearly every request has, is taken as it is; anything else goes through
 * the URL parser, which normalizes it.
 */
function requestTarget(url: string): RequestTarget {
  return COMPLETION_TARGETS.get(url) ?? new URL(url, 'http://router');
}

/** Largest non-streaming answer kept (for usage and the cache) while it is passed on. */
const MAX_KEPT_BYTES = 16 * 1024 * 1024;
/** Headers of the client's request that are for the router alone and never go upstream. */
const ROUTER_ONLY = new Set(['authorization', DATA_CLASS_HEADER, CACHE_HEADER]);

type AttemptResult =
  | { readonly kind: 'done'; readonly status: number; readonly usage?: Usage; readonly reason?: string; readonly kept?: CachedResponse }
  | { readonly kind: 'refused' }
  | { readonly kind: 'fallback'; readonly reason: string };

interface Attempt {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly path: string;
  readonly upstreamPath: string;
  readonly endpoint: Endpoint;
  readonly backend: Backend;
  readonly target: Candidate;
  readonly body: Record<string, unknown>;
  readonly admission: Admission<Candidate>;
  /** The next target may be tried if this one fails before answering. */
  readonly mayFallBack: boolean;
  readonly includeUsage: boolean;
  readonly stopTimer: () => void;
}

interface OpenAiError { readonly status: number; readonly type: string; readonly code: string; readonly message: string }

const TOO_LARGE: OpenAiError = { status: 413, type: 'invalid_request_error', code: 'request_too_large', message: `Request body exceeds ${MAX_BODY_BYTES} bytes.` };

/** A request the policy let through and the cache did not answer, on its way to a backend. */
interface Admitted {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly url: RequestTarget;
  readonly view: View;
  readonly ask: RoutingAsk;
  /** The body without the routing-only fields. */
  readonly forward: Record<string, unknown>;
  readonly strategy: ModelRouteStrategy;
  readonly admission: Admission<Candidate>;
  readonly stopTimer: () => void;
}

class BodyTooLarge extends Error {}

/**
 * Aborts one upstream request: undici takes an EventEmitter that emits `abort` as a request's signal. Not an
 * AbortController: on node 20 each AbortSignal (an EventTarget) outlives a young-generation collection, so one
 * per request was promoted to the old generation and paid for in full (mark-compact) collections.
 */
class UpstreamAbort extends EventEmitter {
  public aborted = false;

  public abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

/** Writes with backpressure: waits for the client to drain, or to go away. */
async function write(res: http.ServerResponse, chunk: string | Buffer): Promise<void> {
  if (res.write(chunk) || res.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The path and query sent upstream: the client's, without the routing-only `owned_by`. */
function upstreamPathOf(path: string, params: URLSearchParams): string {
  const query = new URLSearchParams(params);
  query.delete('owned_by');
  return query.size > 0 ? `${path}?${query}` : path;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { req.removeAllListeners('data'); req.resume(); reject(new BodyTooLarge()); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted')));
  });
}

export class Router {
  public readonly catalog: Catalog;
  private readonly registry = new Registry();
  private readonly answers: AnswerCounts;
  private readonly latency: Histogram;
  private readonly inFlightGauge: Gauge;
  private readonly upstreamErrors: Counter;
  private readonly inFlight = new Map<string, number>();
  private readonly pools = new Map<string, Pool>();
  private rotation = 0;
  /** What `routed` found, as of one view of the catalog. */
  private routedIn?: { readonly view: View; readonly byAsk: Map<string, Routed> };
  /**
   * Cacheable bodies by the SHA-256 of their bytes: the same body sent again — what the cache is for — is
   * not parsed again, nor is what the policy derives from it computed again (see `bodyId`).
   */
  private readonly knownBodies = new LRUCache<string, KnownBody>({ maxSize: KNOWN_BODIES_BYTES, sizeCalculation: (b) => b.size });
  /** Whether answers are cached at all: only then is a body worth knowing by its SHA-256. */
  private readonly caching: boolean;
  private server?: http.Server;
  private metricsServer?: http.Server;
  private adminServer?: http.Server;
  private admin?: AdminApi;
  public port = 0;
  public metricsPort = 0;
  /** Port of the admin API; 0 when it is off. */
  public adminPort = 0;
  public readonly sources: PolicySources;
  private readonly policy: Policy;
  private readonly audit: AuditWriter;
  private readonly redis?: Redis;

  public constructor(private readonly opts: RouterOptions) {
    this.catalog = new Catalog({ client: opts.client, log: opts.log, namespace: opts.namespace, defaultTimeoutMs: opts.defaultTimeoutMs });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.answers = new AnswerCounts(this.registry);
    this.latency = new Histogram({
      name: 'agentway_router_request_duration_seconds', help: 'Time to the response headers, by path', labelNames: ['path'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30], registers,
    });
    this.inFlightGauge = new Gauge({ name: 'agentway_router_in_flight_requests', help: 'Requests in flight to backends', registers });
    this.upstreamErrors = new Counter({ name: 'agentway_router_upstream_errors_total', help: 'Backend requests that failed, by kind', labelNames: ['kind'], registers });
    this.sources = new PolicySources({
      client: opts.client, log: opts.log, namespace: opts.namespace, credentialSecrets: () => this.credentialSecrets(),
    });
    this.catalog.modelApis.onChange(() => this.sources.watchSecrets());
    if (opts.redisUrl) {
      // No offline queue: while Redis is away, limits fall back to this replica's counts and the cache misses.
      this.redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
      this.redis.on('error', (err) => opts.log.warn({ err: err.message }, 'redis unavailable'));
    }
    this.audit = new AuditWriter(opts.auditFile, opts.auditStream);
    const cacheTtlMs = opts.cacheTtlMs ?? 5 * 60 * 1000;
    this.caching = cacheTtlMs > 0;
    this.policy = new Policy({
      index: () => this.sources.keyIndex(),
      limiter: new ClientLimiter({ redis: this.redis }),
      ...(this.caching ? { cache: this.redis ? new RedisCache(this.redis) : new MemoryCache(), cacheTtlMs } : {}),
      defaultCompletionTokens: opts.defaultMaxTokens ?? 1024,
      metrics: new LlmMetrics(this.registry),
      audit: this.audit,
      auditContent: opts.auditContent ?? false,
    });
  }

  /** `namespace/name` of every provider credential Secret the ModelAPIs name. */
  private credentialSecrets(): string[] {
    return this.catalog.modelApis.list().flatMap((m) => {
      const ref = m.spec?.provider?.credentialsSecretRef;
      return typeof ref?.name === 'string' ? [objectKey(m.metadata.namespace ?? 'default', ref.name)] : [];
    });
  }

  public async start(): Promise<void> {
    await this.catalog.start();
    await this.sources.start();
    if (this.sources.keyIndex().anonymous) {
      this.opts.log.warn('no ModelAccess exists: requests need no key and are treated as class internal');
    }
    const host = this.opts.host ?? '0.0.0.0';
    const log = this.opts.log;
    this.server = await listen((req, res) => this.handle(req, res), {
      host, port: this.opts.port ?? PORTS.router, log, headersTimeoutMs: 20_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000,
    });
    this.port = boundPort(this.server);
    if (this.opts.metricsPort !== undefined) {
      this.metricsServer = await listen((req, res) => this.handleMetrics(req, res), {
        host, port: this.opts.metricsPort, log, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000,
      });
      this.metricsPort = boundPort(this.metricsServer);
    }
    if (this.opts.adminTokenSecret !== undefined) {
      const admin = new AdminApi({
        client: this.opts.client, log: this.opts.log, tokenSecret: this.opts.adminTokenSecret, namespace: this.opts.namespace,
        modelApis: this.catalog.modelApis, modelRoutes: this.catalog.modelRoutes,
      });
      this.admin = admin;
      await admin.start();
      this.adminServer = await listen((req, res) => admin.handle(req, res), {
        host, port: this.opts.adminPort ?? PORTS.routerAdmin, log, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000,
      });
      this.adminPort = boundPort(this.adminServer);
    } else {
      this.opts.log.info('admin API off: no --admin-token-secret given');
    }
  }

  public async stop(): Promise<void> {
    this.admin?.stop();
    for (const s of [this.server, this.metricsServer, this.adminServer]) {
      if (!s) continue;
      await new Promise((r) => { s.close(r); s.closeAllConnections(); });
    }
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    await this.catalog.stop();
    await this.sources.stop();
    await this.audit.close();
    this.redis?.disconnect();
  }

  private handleMetrics(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      void this.registry.metrics().then((t) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(t), () => res.writeHead(500).end());
      return;
    }
    this.probe(path, res) || res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  private probe(path: string, res: http.ServerResponse): boolean {
    if (path === '/healthz') { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n'); return true; }
    if (path === '/readyz') {
      const ready = this.catalog.ready;
      res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ready ? 'ok\n' : 'caches not synced\n');
      return true;
    }
    return false;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = requestTarget(req.url ?? '/');
    const path = url.pathname;
    if (this.probe(path, res)) return;
    if (path === '/v1/models') {
      if (req.method !== 'GET') return this.fail(res, path, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', message: `Method ${req.method} not allowed on ${path}; use GET.` });
      return this.models(url, res);
    }
    if (!COMPLETION_PATHS.has(path)) {
      return this.fail(res, '(other)', { status: 404, type: 'invalid_request_error', code: 'unknown_url', message: `Unknown request URL: ${req.method} ${path}.` });
    }
    if (req.method !== 'POST') return this.fail(res, path, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', message: `Method ${req.method} not allowed on ${path}; use POST.` });
    this.complete(req, res, url).catch((err) => {
      this.opts.log.error({ err: (err as Error).message, path }, 'request failed');
      if (!res.headersSent) this.fail(res, path, { status: 500, type: 'server_error', code: 'internal_error', message: 'The router failed to handle the request.' });
      else res.destroy();
    });
  }

  private models(url: RequestTarget, res: http.ServerResponse): void {
    const view = this.catalog.current();
    const list = modelList(view.modelApis, view.routes);
    const engine = url.searchParams.get('owned_by') ?? undefined;
    const data = engine ? list.data.filter((m) => sameEngine(m.owned_by, engine)) : list.data;
    this.send(res, '/v1/models', 200, { object: 'list', data });
  }

  private send(res: http.ServerResponse, path: string, status: number, body: unknown, headers: Record<string, string> = {}, backend = ''): void {
    const text = JSON.stringify(body);
    this.answers.add(path, status, backend);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers }).end(text);
  }

  private fail(res: http.ServerResponse, path: string, e: OpenAiError, headers: Record<string, string> = {}): void {
    this.send(res, path, e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } }, headers);
  }

  /**
   * Who may serve an ask, as of `view`. An ask that resolves is kept with its candidates until the view
   * changes, by model and engine (which resolve compares case-insensitively); refusals are not kept.
   */
  private routed(view: View, ask: RoutingAsk): Routed | Refusal {
    if (this.routedIn?.view !== view) this.routedIn = { view, byAsk: new Map() };
    const key = ask.model === undefined ? undefined : `${ask.model}\u0000${ask.ownedBy?.toLowerCase() ?? ''}`;
    const kept = key === undefined ? undefined : this.routedIn.byAsk.get(key);
    if (kept) return kept;
    const resolution = resolve(ask, view.modelApis, view.routes);
    if (!resolution.ok) return resolution;
    const candidates: Candidate[] = resolution.targets.map((t) => {
      const b = view.backends.get(t.backend);
      return { ...t, id: t.backend, dataClass: b?.dataClass ?? 'restricted', ...(b?.pricing ? { pricing: b.pricing } : {}), ...(b?.provider ? { provider: b.provider.type } : {}) };
    });
    const routed: Routed = { ok: true, resolution, candidates };
    if (key !== undefined && this.routedIn.byAsk.size < ROUTED_KEPT) this.routedIn.byAsk.set(key, routed);
    return routed;
  }

  private async complete(req: http.IncomingMessage, res: http.ServerResponse, url: RequestTarget): Promise<void> {
    const path = url.pathname;
    // One closure over a start time, instead of prom-client's timer (two closures, two hrtime arrays and a
    // copy of the labels per request).
    const started = performance.now();
    const labels = LATENCY_LABELS.get(path) ?? { path };
    const stopTimer = () => this.latency.observe(labels, (performance.now() - started) / 1000);
    const declared = Number(req.headers['content-length']);
    // Answered at once, without reading the body; the connection is closed so the rest is never parsed.
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return this.fail(res, path, TOO_LARGE, { Connection: 'close' });
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) return this.fail(res, path, TOO_LARGE, { Connection: 'close' });
      return void res.destroy();
    }
    const bodyId = this.caching && raw.length <= KNOWN_BODY_BYTES ? hash('sha256', raw, 'base64') : undefined;
    const known = bodyId === undefined ? undefined : this.knownBodies.get(bodyId);
    let body: unknown = known?.body;
    if (!known) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        return this.fail(res, path, { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: `We could not parse the JSON body of your request: ${(err as Error).message}` });
      }
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        return this.fail(res, path, { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'The request body must be a JSON object.' });
      }
    }
    const { ask, forward } = routingAsk(req.headers, url.searchParams, body as Record<string, unknown>);
    const view = this.catalog.current();
    const routed = this.routed(view, ask);
    if (!routed.ok) return this.fail(res, path, routed);
    const { strategy } = routed.resolution;
    const admission = await this.policy.admit({
      requestId: randomUUID(), received: new Date(), headers: req.headers, model: ask.model!, ...(ask.ownedBy ? { engine: ask.ownedBy } : {}), body: forward, bodyId,
    }, routed.candidates, strategy);
    if (isPolicyError(admission)) return this.fail(res, path, admission, { ...admission.headers });
    if (admission.cacheKey && bodyId !== undefined && !known) this.knownBodies.set(bodyId, { body: frozen(body as Record<string, unknown>), size: raw.length });
    if (isCacheHit(admission)) {
      const hit = admission.response;
      stopTimer();
      // The cache keeps the backend's key (what eligibility is checked by); answers name it by its label.
      const label = view.backends.get(hit.backend)?.label ?? hit.backend;
      this.answers.add(path, hit.status, label);
      res.writeHead(hit.status, { 'Content-Type': hit.contentType, 'Content-Length': hit.body.length, [BACKEND_HEADER]: label, [CACHE_HEADER]: 'hit' }).end(hit.body);
      return;
    }
    await this.forwardAdmitted({ req, res, url, view, ask, forward, strategy, admission, stopTimer });
  }

  /** Sends an admitted request to its targets in the strategy's order; settles and audits how it ended. */
  private async forwardAdmitted(f: Admitted): Promise<void> {
    const { req, res, url, view, ask, forward, strategy, admission, stopTimer } = f;
    const path = url.pathname;
    const upstreamPath = url.search === '' ? path : upstreamPathOf(path, url.searchParams);
    const stream = forward.stream === true;
    const streamOptions = forward.stream_options as Record<string, unknown> | undefined;
    const includeUsage = streamOptions?.include_usage === true;

    // priority: each eligible target in turn, falling back on 429, 5xx, a refused connection or a timeout
    // before the answer started; cheapest: the one cheapest; capacity and weighted: the router's choice among
    // every eligible target. Every list here holds eligible targets only.
    const groups: Candidate[][] = strategy === 'priority' ? admission.targets.map((t) => [t])
      : [strategy === 'cheapest' ? [...admission.targets] : [...admission.eligible]];
    const fallbacks: Candidate[] = [];
    let chosen = false;
    let lastReason = 'upstream_unavailable';
    for (let g = 0; g < groups.length; g++) {
      const tried = new Set<string>();
      // A refused connection sent nothing: the request goes to the next best endpoint, once.
      for (let attempt = 0; attempt < 2; attempt++) {
        const targets = groups[g].map((t) => ({ ...t, endpoints: (view.backends.get(t.backend)?.endpoints ?? []).filter((e) => !tried.has(e.address)) }));
        const choice = chooseEndpoint({
          strategy: strategy === 'weighted' ? 'weighted' : 'capacity', targets, gpuOnly: ask.gpu,
          inFlight: (a) => this.inFlight.get(a) ?? 0, rotation: this.rotation++, random: Math.random(),
        });
        if (!choice) break;
        chosen = true;
        const target = groups[g].find((t) => t.backend === choice.endpoint.backend)!;
        const backend = view.backends.get(target.backend)!;
        // Usage of a stream comes in its last chunk, asked for here; the client gets that chunk only if it asked.
        const body: Record<string, unknown> = { ...forward, model: target.model, ...(stream ? { stream_options: { ...streamOptions, include_usage: true } } : {}) };
        const result = await this.attempt({
          req, res, path, upstreamPath, endpoint: choice.endpoint, backend, target, body, admission, includeUsage, stopTimer,
          mayFallBack: g < groups.length - 1,
        });
        if (result.kind === 'done') {
          if (result.kept) await this.policy.store(admission, result.kept);
          await this.policy.finish(admission, {
            status: result.status, target, fallbacks, ...(result.usage ? { usage: result.usage } : {}), ...(result.reason ? { reason: result.reason } : {}),
            ...(this.opts.auditContent ? { content: { request: forward } } : {}),
          });
          return;
        }
        if (!fallbacks.includes(target)) fallbacks.push(target);
        if (result.kind === 'refused') { tried.add(choice.endpoint.address); lastReason = 'upstream_connect_error'; continue; }
        lastReason = result.reason;
        break;
      }
    }
    if (!chosen) {
      const retry = String(this.opts.retryAfterSeconds ?? 1);
      await this.policy.finish(admission, { status: 503, reason: 'no_ready_backends' });
      return this.fail(res, path, {
        status: 503, type: 'server_error', code: 'no_ready_backends',
        message: `No ready endpoint serves model \`${ask.model}\`${ask.gpu ? ' on an accelerator' : ''}; retry later.`,
      }, { 'Retry-After': retry });
    }
    await this.policy.finish(admission, { status: 502, reason: lastReason, fallbacks });
    this.fail(res, path, { status: 502, type: 'server_error', code: 'upstream_unavailable', message: 'No model server could take the request.' });
  }

  private pool(addr: string): Pool {
    let pool = this.pools.get(addr);
    if (!pool) {
      pool = new Pool(`http://${addr}`, { connections: 256, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, headersTimeout: 0, bodyTimeout: 0 });
      this.pools.set(addr, pool);
    }
    return pool;
  }

  /** The request to send: to an in-cluster endpoint as the client sent it, to a provider as its adapter makes it. */
  private async upstreamRequest(a: Attempt): Promise<{ url?: string; headers: Record<string, string | string[]>; payload: Buffer; translate?: ReturnType<typeof providerAdapter> } | { error: string; status: number; message: string }> {
    const provider = a.backend.provider;
    if (!provider) {
      const headers: Record<string, string | string[]> = {};
      const keyed = !this.sources.keyIndex().anonymous;
      for (const [k, v] of Object.entries(a.req.headers)) {
        // The client's key belongs to the router; it never reaches a model server.
        if (v !== undefined && !DROP_REQUEST.has(k) && !(keyed && ROUTER_ONLY.has(k)) && k !== DATA_CLASS_HEADER && k !== CACHE_HEADER) headers[k] = v;
      }
      const payload = Buffer.from(JSON.stringify(a.body));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
      return { headers, payload };
    }
    const [namespace] = a.backend.key.split('/');
    const ref = provider.credentialsSecretRef;
    const credential = ref ? this.sources.secrets.data(namespace, ref.name)?.[ref.key] : undefined;
    if (ref && credential === undefined) {
      return { error: 'provider_credentials_missing', status: 502, message: `The credentials of ${a.backend.label} are not available to the router.` };
    }
    const adapter = providerAdapter({ type: provider.type, url: provider.url, region: provider.region, model: provider.model, credential });
    if (!adapter.supports(a.path.slice(3) as Operation)) {
      return { error: 'unsupported_operation', status: 400, message: `${a.path} is not offered by ${provider.type} (${a.backend.label}).` };
    }
    try {
      const up = await adapter.prepare(a.path.slice(3) as Operation, a.body, new Date());
      return { url: up.url, headers: { ...up.headers }, payload: up.body, translate: adapter };
    } catch (err) {
      if (err instanceof TranslationError) return { error: 'invalid_request', status: 400, message: err.message };
      // A credential that cannot be used: say so without quoting it.
      return { error: 'provider_credentials_invalid', status: 502, message: `The credentials of ${a.backend.label} cannot be used: ${(err as Error).message}` };
    }
  }

  /**
   * One try at one endpoint. Writes the answer to the client unless the attempt may fall back and failed
   * before anything was written: a 429 or 5xx, a refused connection, a timeout before the answer started.
   */
  private async attempt(a: Attempt): Promise<AttemptResult> {
    const { res, path, backend } = a;
    const prepared = await this.upstreamRequest(a);
    if ('error' in prepared) {
      if (a.mayFallBack && prepared.status >= 500) return { kind: 'fallback', reason: prepared.error };
      this.fail(res, path, { status: prepared.status, type: prepared.status === 400 ? 'invalid_request_error' : 'server_error', code: prepared.error, message: prepared.message }, { [BACKEND_HEADER]: backend.label });
      return { kind: 'done', status: prepared.status, reason: prepared.error };
    }
    const abort = new UpstreamAbort();
    let timedOut = false;
    const timer = backend.timeoutMs ? setTimeout(() => { timedOut = true; abort.abort(); }, backend.timeoutMs) : undefined;
    // A client that goes away aborts the upstream request: the model stops generating for nobody.
    const onClose = () => { if (!res.writableFinished) abort.abort(); };
    res.on('close', onClose);
    const addr = a.endpoint.address;
    this.inFlight.set(addr, (this.inFlight.get(addr) ?? 0) + 1);
    this.inFlightGauge.inc();
    try {
      const up = prepared.url
        ? await undiciRequest(prepared.url, { method: 'POST', headers: prepared.headers, body: prepared.payload, signal: abort, headersTimeout: 0, bodyTimeout: 0 })
        : await this.pool(addr).request({ method: 'POST', path: a.upstreamPath, headers: prepared.headers, body: prepared.payload, signal: abort });
      if (a.mayFallBack && (up.statusCode === 429 || up.statusCode >= 500)) {
        await up.body.dump().catch(() => undefined);
        this.upstreamErrors.inc({ kind: `status_${up.statusCode}` });
        return { kind: 'fallback', reason: `upstream_status_${up.statusCode}` };
      }
      return await this.relay(a, up, prepared.translate);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (res.headersSent) {
        if (!res.destroyed) res.destroy();
        if (!abort.aborted || timedOut) this.upstreamErrors.inc({ kind: timedOut ? 'timeout' : 'stream' });
        return { kind: 'done', status: res.statusCode, reason: timedOut ? 'upstream_timeout_during_stream' : 'upstream_stream_error' };
      }
      if (abort.aborted && !timedOut) return { kind: 'done', status: 499, reason: 'client_closed' };
      const connectFailure = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_CONNECT_TIMEOUT';
      if (code === 'ECONNREFUSED' && !backend.provider) { this.upstreamErrors.inc({ kind: 'refused' }); return { kind: 'refused' }; }
      this.upstreamErrors.inc({ kind: timedOut ? 'timeout' : 'error' });
      if (a.mayFallBack && (timedOut || connectFailure)) return { kind: 'fallback', reason: timedOut ? 'upstream_timeout' : 'upstream_connect_error' };
      this.opts.log.warn({ backend: backend.label, endpoint: backend.provider ? backend.provider.type : addr, err: (err as Error).message }, 'backend request failed');
      if (timedOut) {
        this.fail(res, path, { status: 504, type: 'server_error', code: 'upstream_timeout', message: `The model server did not answer within ${backend.timeoutMs} ms.` }, { [BACKEND_HEADER]: backend.label });
        return { kind: 'done', status: 504, reason: 'upstream_timeout' };
      }
      this.fail(res, path, { status: 502, type: 'server_error', code: 'upstream_error', message: `The model server failed: ${(err as Error).message}` }, { [BACKEND_HEADER]: backend.label });
      return { kind: 'done', status: 502, reason: 'upstream_error' };
    } finally {
      if (timer) clearTimeout(timer);
      res.off('close', onClose);
      const n = (this.inFlight.get(addr) ?? 1) - 1;
      if (n <= 0) this.inFlight.delete(addr);
      else this.inFlight.set(addr, n);
      this.inFlightGauge.dec();
    }
  }

  /** Passes an upstream answer on (translated for Anthropic and Bedrock), reading its usage on the way. */
  private async relay(a: Attempt, up: Awaited<ReturnType<Pool['request']>>, adapter?: ReturnType<typeof providerAdapter>): Promise<AttemptResult> {
    const { res, path, backend, admission } = a;
    const status = up.statusCode;
    const ctx = { model: admission.request.model, created: Math.floor(Date.now() / 1000), requestId: `chatcmpl-${admission.request.requestId}`, includeUsage: a.includeUsage };
    if (backend.provider && (status === 401 || status === 403)) {
      // The provider refused the router's credential, not the client's: a gateway fault, told without the
      // provider's words (some echo part of the key).
      await up.body.dump().catch(() => undefined);
      this.fail(res, path, { status: 502, type: 'server_error', code: 'provider_auth_failed', message: `${backend.label} refused the credentials configured for it (${status}).` }, { [BACKEND_HEADER]: backend.label });
      a.stopTimer();
      return { kind: 'done', status: 502, reason: 'provider_auth_failed' };
    }
    const upType = String(up.headers['content-type'] ?? '');
    const streaming = status < 400 && (upType.startsWith('text/event-stream') || upType.startsWith('application/vnd.amazon.eventstream'));
    const extra: Record<string, string> = { [BACKEND_HEADER]: backend.label, ...(admission.cacheKey ? { [CACHE_HEADER]: 'miss' } : {}) };
    const out: Record<string, string | string[]> = {};
    if (!backend.provider) {
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !DROP_RESPONSE.has(k)) out[k] = v;
    } else if (!adapter?.streamTranslator(ctx)) {
      // A provider's own headers (organisation, request ids, cookies) stay with the router.
      for (const k of ['content-type', 'content-length']) if (up.headers[k] !== undefined) out[k] = up.headers[k]!;
    }
    // The headers go out in `out`, filled in place: an object spread from `out` per request (`{ ...out, ...extra }`)
    // left more than 100 bytes promoted to the old generation for every forwarded request.
    if (streaming) {
      const translator: StreamTranslator = adapter?.streamTranslator(ctx) ?? new PassThroughStream(a.includeUsage);
      delete out['content-length'];
      out['content-type'] = 'text/event-stream';
      out['cache-control'] = 'no-cache';
      res.writeHead(status, Object.assign(out, extra));
      // Server-sent events go out as they arrive: headers now, each event as soon as it is whole.
      res.flushHeaders();
      a.stopTimer();
      this.answers.add(path, status, backend.label);
      for await (const chunk of up.body) {
        const text = translator.push(chunk as Buffer);
        if (text) await write(res, text);
      }
      res.end(translator.end());
      return { kind: 'done', status, ...(translator.usage() ? { usage: translator.usage() } : {}) };
    }
    if (adapter && adapter.streamTranslator(ctx)) {
      // Anthropic and Bedrock: the answer is translated whole (a non-streaming JSON body).
      const raw = Buffer.from(await up.body.arrayBuffer());
      let body: Buffer;
      try {
        body = (status < 400 ? adapter.translateResponse(raw, ctx) : adapter.translateError(status, raw)) ?? raw;
      } catch {
        body = Buffer.from(JSON.stringify({ error: { message: `${backend.label} answered with a body that is not JSON`, type: 'server_error', code: 'upstream_invalid_response' } }));
      }
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length), ...extra }).end(body);
      a.stopTimer();
      this.answers.add(path, status, backend.label);
      return this.finished(status, body, backend);
    }
    // No flushHeaders here: the headers leave with the first chunk of the body, in one write (Node corks the
    // socket until the next tick), instead of a packet of their own.
    res.writeHead(status, Object.assign(out, extra));
    a.stopTimer();
    this.answers.add(path, status, backend.label);
    // Passed on as it arrives, with a copy kept (up to a bound) for the usage and the cache.
    const kept: Buffer[] = [];
    let size = 0;
    for await (const chunk of up.body) {
      const c = chunk as Buffer;
      await write(res, c);
      size += c.length;
      if (size <= MAX_KEPT_BYTES) kept.push(c);
    }
    res.end();
    return size <= MAX_KEPT_BYTES ? this.finished(status, Buffer.concat(kept), backend, String(up.headers['content-type'] ?? 'application/json')) : { kind: 'done', status };
  }

  private finished(status: number, body: Buffer, backend: Backend, contentType = 'application/json'): AttemptResult {
    let usage: Usage | undefined;
    if (status < 400) {
      try { usage = openAIUsage(JSON.parse(body.toString('utf8'))); } catch { /* no usage in a body that is not JSON */ }
    }
    return {
      kind: 'done', status, ...(usage ? { usage } : {}),
      ...(status === 200 ? { kept: { status, contentType, body, backend: backend.key } } : {}),
    };
  }
}
