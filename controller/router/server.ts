/**
 * The model router (DESIGN §8): an OpenAI-compatible front that picks, per request, the backend serving the
 * asked model and engine and the endpoint with the most free capacity, and streams the answer back. It
 * reads informer caches only and keeps nothing but in-flight counts in memory, so replicas answer alike.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Pool } from 'undici';
import { KubeClient } from '../kube/kube-client.js';
import { AdminApi } from './admin.js';
import { Catalog } from './catalog.js';
import { Refusal, modelList, resolve, routingAsk, sameEngine } from './resolve.js';
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
  /** OpenAI API port. @default 8000; 0 picks a free port */
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
  /** Port of the admin API. @default 8001; 0 picks a free port */
  readonly adminPort?: number;
}

interface OpenAiError { readonly status: number; readonly type: string; readonly code: string; readonly message: string }

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { req.removeAllListeners('data'); req.resume(); reject(new BodyTooLarge()); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted')));
  });
}

export class Router {
  public readonly catalog: Catalog;
  private readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly latency: Histogram;
  private readonly inFlightGauge: Gauge;
  private readonly upstreamErrors: Counter;
  private readonly inFlight = new Map<string, number>();
  private readonly pools = new Map<string, Pool>();
  private rotation = 0;
  private server?: http.Server;
  private metricsServer?: http.Server;
  private adminServer?: http.Server;
  private admin?: AdminApi;
  public port = 0;
  public metricsPort = 0;
  /** Port of the admin API; 0 when it is off. */
  public adminPort = 0;

  public constructor(private readonly opts: RouterOptions) {
    this.catalog = new Catalog({ client: opts.client, log: opts.log, namespace: opts.namespace, defaultTimeoutMs: opts.defaultTimeoutMs });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'agentway_router_requests_total', help: 'Router answers by path, status code and backend', labelNames: ['path', 'code', 'backend'], registers });
    this.latency = new Histogram({
      name: 'agentway_router_request_duration_seconds', help: 'Time to the response headers, by path', labelNames: ['path'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30], registers,
    });
    this.inFlightGauge = new Gauge({ name: 'agentway_router_in_flight_requests', help: 'Requests in flight to backends', registers });
    this.upstreamErrors = new Counter({ name: 'agentway_router_upstream_errors_total', help: 'Backend requests that failed, by kind', labelNames: ['kind'], registers });
  }

  public async start(): Promise<void> {
    await this.catalog.start();
    this.server = http.createServer({ noDelay: true, headersTimeout: 20_000, requestTimeout: 60_000, keepAliveTimeout: 65_000 }, (req, res) => this.handle(req, res));
    await this.listen(this.server, this.opts.port ?? 8000);
    this.port = (this.server.address() as AddressInfo).port;
    if (this.opts.metricsPort !== undefined) {
      this.metricsServer = http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => this.handleMetrics(req, res));
      await this.listen(this.metricsServer, this.opts.metricsPort);
      this.metricsPort = (this.metricsServer.address() as AddressInfo).port;
    }
    if (this.opts.adminTokenSecret !== undefined) {
      const admin = new AdminApi({
        client: this.opts.client, log: this.opts.log, tokenSecret: this.opts.adminTokenSecret, namespace: this.opts.namespace,
        modelApis: this.catalog.modelApis, modelRoutes: this.catalog.modelRoutes,
      });
      this.admin = admin;
      await admin.start();
      this.adminServer = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => admin.handle(req, res));
      await this.listen(this.adminServer, this.opts.adminPort ?? 8001);
      this.adminPort = (this.adminServer.address() as AddressInfo).port;
    } else {
      this.opts.log.info('admin API off: no --admin-token-secret given');
    }
  }

  private listen(server: http.Server, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host ?? '0.0.0.0', () => { server.off('error', reject); resolve(); });
    });
  }

  public async stop(): Promise<void> {
    this.admin?.stop();
    for (const s of [this.server, this.metricsServer, this.adminServer]) {
      if (!s) continue;
      await new Promise((r) => { s.close(r); s.closeAllConnections(); });
    }
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    await this.catalog.stop();
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
    const url = new URL(req.url ?? '/', 'http://router');
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

  private models(url: URL, res: http.ServerResponse): void {
    const view = this.catalog.current();
    const list = modelList(view.modelApis, view.routes);
    const engine = url.searchParams.get('owned_by') ?? undefined;
    const data = engine ? list.data.filter((m) => sameEngine(m.owned_by, engine)) : list.data;
    this.send(res, '/v1/models', 200, { object: 'list', data });
  }

  private send(res: http.ServerResponse, path: string, status: number, body: unknown, headers: Record<string, string> = {}, backend = ''): void {
    const text = JSON.stringify(body);
    this.requests.inc({ path, code: status, backend });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers }).end(text);
  }

  private fail(res: http.ServerResponse, path: string, e: OpenAiError, headers: Record<string, string> = {}): void {
    this.send(res, path, e.status, { error: { message: e.message, type: e.type, param: null, code: e.code } }, headers);
  }

  private async complete(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const stopTimer = this.latency.startTimer({ path });
    const declared = Number(req.headers['content-length']);
    const tooLarge: OpenAiError = { status: 413, type: 'invalid_request_error', code: 'request_too_large', message: `Request body exceeds ${MAX_BODY_BYTES} bytes.` };
    // Answered at once, without reading the body; the connection is closed so the rest is never parsed.
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return this.fail(res, path, tooLarge, { Connection: 'close' });
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) return this.fail(res, path, tooLarge, { Connection: 'close' });
      return void res.destroy();
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return this.fail(res, path, { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: `We could not parse the JSON body of your request: ${(err as Error).message}` });
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return this.fail(res, path, { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'The request body must be a JSON object.' });
    }
    const { ask, forward } = routingAsk(req.headers, url.searchParams, body as Record<string, unknown>);
    const view = this.catalog.current();
    const resolution = resolve(ask, view.modelApis, view.routes);
    if (!resolution.ok) return this.fail(res, path, resolution as Refusal);

    const query = new URLSearchParams(url.searchParams);
    query.delete('owned_by');
    const upstreamPath = `${path}${query.size > 0 ? `?${query}` : ''}`;
    const tried = new Set<string>();
    // A refused connection sent nothing: the request goes to the next best endpoint, once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const targets = resolution.targets.map((t) => ({
        ...t, endpoints: (view.backends.get(t.backend)?.endpoints ?? []).filter((e) => !tried.has(e.address)),
      }));
      const choice = chooseEndpoint({
        strategy: resolution.strategy, targets, gpuOnly: ask.gpu,
        inFlight: (a) => this.inFlight.get(a) ?? 0, rotation: this.rotation++, random: Math.random(),
      });
      if (!choice) {
        if (attempt > 0) break;
        const retry = String(this.opts.retryAfterSeconds ?? 1);
        return this.fail(res, path, {
          status: 503, type: 'server_error', code: 'no_ready_backends',
          message: `No ready endpoint serves model \`${ask.model}\`${ask.gpu ? ' on an accelerator' : ''}; retry later.`,
        }, { 'Retry-After': retry });
      }
      const target = resolution.targets.find((t) => t.backend === choice.endpoint.backend)!;
      const backend = view.backends.get(target.backend)!;
      const payload = JSON.stringify({ ...forward, model: target.model });
      const outcome = await this.forward(req, res, choice.endpoint, upstreamPath, payload, backend.label, backend.timeoutMs, path, stopTimer);
      if (outcome !== 'refused') return;
      tried.add(choice.endpoint.address);
    }
    this.fail(res, path, { status: 502, type: 'server_error', code: 'upstream_unavailable', message: 'The model server refused the connection.' });
  }

  private pool(addr: string): Pool {
    let pool = this.pools.get(addr);
    if (!pool) {
      pool = new Pool(`http://${addr}`, { connections: 256, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, headersTimeout: 0, bodyTimeout: 0 });
      this.pools.set(addr, pool);
    }
    return pool;
  }

  /** Sends the request to one endpoint and streams its answer back; 'refused' when nothing reached it. */
  private async forward(
    req: http.IncomingMessage, res: http.ServerResponse, endpoint: Endpoint, upstreamPath: string, payload: string,
    backend: string, timeoutMs: number | undefined, path: string, stopTimer: () => void,
  ): Promise<'done' | 'refused'> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP_REQUEST.has(k)) headers[k] = v;
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
    const abort = new AbortController();
    let timedOut = false;
    const timer = timeoutMs ? setTimeout(() => { timedOut = true; abort.abort(); }, timeoutMs) : undefined;
    // A client that goes away aborts the upstream request: the model stops generating for nobody.
    const onClose = () => { if (!res.writableFinished) abort.abort(); };
    res.on('close', onClose);
    const addr = endpoint.address;
    this.inFlight.set(addr, (this.inFlight.get(addr) ?? 0) + 1);
    this.inFlightGauge.inc();
    try {
      const up = await this.pool(addr).request({ method: 'POST', path: upstreamPath, headers, body: payload, signal: abort.signal });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !DROP_RESPONSE.has(k)) out[k] = v;
      out[BACKEND_HEADER] = backend;
      res.writeHead(up.statusCode, out);
      // Server-sent events go out chunk by chunk as they arrive: headers now, no buffering.
      res.flushHeaders();
      stopTimer();
      this.requests.inc({ path, code: up.statusCode, backend });
      await pipeline(up.body, res);
      return 'done';
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (res.headersSent) {
        if (!res.destroyed) res.destroy();
        if (!abort.signal.aborted || timedOut) this.upstreamErrors.inc({ kind: timedOut ? 'timeout' : 'stream' });
        return 'done';
      }
      if (abort.signal.aborted && !timedOut) return 'done'; // the client left
      if (code === 'ECONNREFUSED') { this.upstreamErrors.inc({ kind: 'refused' }); return 'refused'; }
      this.upstreamErrors.inc({ kind: timedOut ? 'timeout' : 'error' });
      this.opts.log.warn({ backend, endpoint: addr, err: (err as Error).message }, 'backend request failed');
      if (timedOut) {
        this.fail(res, path, { status: 504, type: 'server_error', code: 'upstream_timeout', message: `The model server did not answer within ${timeoutMs} ms.` }, { [BACKEND_HEADER]: backend });
      } else {
        this.fail(res, path, { status: 502, type: 'server_error', code: 'upstream_error', message: `The model server failed: ${(err as Error).message}` }, { [BACKEND_HEADER]: backend });
      }
      return 'done';
    } finally {
      if (timer) clearTimeout(timer);
      res.off('close', onClose);
      const n = (this.inFlight.get(addr) ?? 1) - 1;
      if (n <= 0) this.inFlight.delete(addr);
      else this.inFlight.set(addr, n);
      this.inFlightGauge.dec();
    }
  }
}
