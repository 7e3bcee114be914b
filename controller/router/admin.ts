/**
 * The router's admin API (DESIGN §8), on its own port and never routed by the Gateway. Every mapping is a
 * ModelRoute object, written by server-side apply under field manager `agentway-admin`: nothing lives only
 * in memory, so every replica answers alike and `kubectl get modelroutes` shows what was done.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { Logger } from 'pino';
import { API_VERSION, DISCOVER_AT_ANNOTATION, KubeObject } from '../../manifests/api.js';
import { DEFAULT_WORKLOAD_PORT } from '../../manifests/defaults.js';
import { isDnsLabel } from '../../manifests/names.js';
import { Informer } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { MODEL_ROUTE_TYPE, objectKey, ourType, resourcePath } from '../kube/resources.js';
import { sameEngine } from './resolve.js';

export const ADMIN_FIELD_MANAGER = 'agentway-admin';
export const ADMIN_LABEL = 'agentway.dev/admin';
const MAX_ADMIN_BODY = 64 * 1024;
/** How often the token Secret is read again, so a rotated token takes effect. */
const TOKEN_REFRESH_MS = 30_000;

export interface AdminOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** `namespace/name` of the Secret whose key `token` is the bearer token. */
  readonly tokenSecret: string;
  readonly modelApis: Informer;
  readonly modelRoutes: Informer;
  /** The namespace the router serves, when it serves one only: the default and only namespace of mappings. */
  readonly namespace?: string;
  readonly clock?: () => Date;
}

interface Reply { readonly status: number; readonly body: unknown }

const digest = (s: string) => createHash('sha256').update(s).digest();
const error = (status: number, message: string, code: string): Reply => ({ status, body: { error: { message, type: 'invalid_request_error', code } } });

/** The ModelRoute name of a mapping: readable, and the same for the same model and engine on every replica. */
export function mappingName(model: string, ownedBy: string | undefined): string {
  const slug = model.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 40).replace(/-+$/, '');
  const hash = createHash('sha256').update(`${model}\u0000${(ownedBy ?? '').toLowerCase()}`).digest('hex').slice(0, 10);
  return `${slug || 'model'}-${hash}`;
}

/** A ModelRoute as the admin API lists it. */
function mapping(r: KubeObject): Record<string, unknown> {
  return {
    namespace: r.metadata.namespace, name: r.metadata.name, model: r.spec?.model, owned_by: r.spec?.ownedBy ?? null,
    strategy: r.spec?.strategy ?? 'capacity', targets: r.spec?.targets ?? [],
  };
}

export class AdminApi {
  private token?: Buffer;
  private tokenError = 'the token Secret has not been read yet';
  private timer?: NodeJS.Timeout;

  public constructor(private readonly opts: AdminOptions) {}

  public async start(): Promise<void> {
    await this.readToken();
    this.timer = setInterval(() => void this.readToken(), TOKEN_REFRESH_MS);
    this.timer.unref();
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async readToken(): Promise<void> {
    const [ns, name] = this.opts.tokenSecret.split('/');
    try {
      const secret = await this.opts.client.request('GET', resourcePath({ apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true }, ns, name));
      const value = secret?.data?.token;
      if (typeof value !== 'string' || value === '') throw new Error(`Secret ${this.opts.tokenSecret} has no key "token"`);
      this.token = digest(Buffer.from(value, 'base64').toString('utf8').trim());
      this.tokenError = '';
    } catch (err) {
      // A Secret that went away disables the API rather than leaving an old token valid.
      this.token = undefined;
      this.tokenError = err instanceof ApiError && err.status === 404 ? `Secret ${this.opts.tokenSecret} not found` : (err as Error).message;
      this.opts.log.warn({ secret: this.opts.tokenSecret, err: this.tokenError }, 'admin API token unavailable; the admin API answers 503');
    }
  }

  private authorized(req: http.IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (!this.token || typeof auth !== 'string' || !auth.startsWith('Bearer ')) return false;
    // Digests of equal length: the comparison takes the same time whatever was presented.
    return timingSafeEqual(digest(auth.slice(7).trim()), this.token);
  }

  public handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (r: Reply) => {
      const text = JSON.stringify(r.body);
      res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...(r.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}) }).end(text);
    };
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/healthz') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    if (!this.token) return send({ status: 503, body: { error: { message: `admin API unavailable: ${this.tokenError}`, type: 'server_error', code: 'admin_unavailable' } } });
    if (!this.authorized(req)) return send(error(401, 'a valid bearer token is required', 'unauthorized'));
    this.route(req, url).then(send, (err) => {
      const status = err instanceof ApiError && err.status >= 400 && err.status < 500 ? err.status : 500;
      this.opts.log.error({ err: (err as Error).message, path: url.pathname }, 'admin request failed');
      send({ status, body: { error: { message: (err as Error).message, type: status === 500 ? 'server_error' : 'invalid_request_error', code: 'kubernetes_error' } } });
    });
  }

  private async route(req: http.IncomingMessage, url: URL): Promise<Reply> {
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
      case 'GET /admin/api/routing':
        return { status: 200, body: { object: 'list', data: this.opts.modelRoutes.list().filter((r) => this.inScope(r.metadata.namespace)).map(mapping).sort((a, b) => String(a.name).localeCompare(String(b.name))) } };
      case 'POST /admin/api/routing':
        return this.upsert(await this.body(req));
      case 'DELETE /admin/api/routing':
        return this.remove(url.searchParams);
      case 'POST /admin/discover':
        return this.discover(await this.body(req).catch(() => ({})));
      default:
        return error(404, `Unknown request URL: ${req.method} ${url.pathname}.`, 'unknown_url');
    }
  }

  private inScope(namespace: string | undefined): boolean {
    return this.opts.namespace === undefined || namespace === this.opts.namespace;
  }

  private body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => { size += c.length; if (size > MAX_ADMIN_BODY) { req.destroy(); reject(new Error('body too large')); } else chunks.push(c); });
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() === '') return resolve({});
        try {
          const v = JSON.parse(text);
          if (v && typeof v === 'object' && !Array.isArray(v)) resolve(v); else reject(new ApiError(400, 'BadRequest', 'the body must be a JSON object'));
        } catch (err) {
          reject(new ApiError(400, 'BadRequest', `malformed JSON: ${(err as Error).message}`));
        }
      });
      req.on('error', reject);
    });
  }

  /** The namespace of a mapping: the request's, else the one the router serves. */
  private namespaceOf(given: unknown): string | Reply {
    const ns = typeof given === 'string' && given !== '' ? given : this.opts.namespace;
    if (ns === undefined) return error(400, 'namespace is required', 'namespace_required');
    if (!isDnsLabel(ns) || ns.length > 63) return error(400, `namespace must be a DNS label, got ${JSON.stringify(ns)}`, 'invalid_namespace');
    if (!this.inScope(ns)) return error(403, `this router serves namespace ${this.opts.namespace} only`, 'namespace_not_served');
    return ns;
  }

  /** POST: `{model, owned_by?, modelapi | service_name (+ port), namespace?}` becomes one ModelRoute. */
  private async upsert(b: Record<string, unknown>): Promise<Reply> {
    const model = b.model;
    const ownedBy = typeof b.owned_by === 'string' && b.owned_by !== '' ? b.owned_by : undefined;
    if (typeof model !== 'string' || model === '' || model.length > 256) return error(400, 'model is required (a string of at most 256 characters)', 'model_required');
    const ns = this.namespaceOf(b.namespace);
    if (typeof ns !== 'string') return ns;
    const port = b.port === undefined ? DEFAULT_WORKLOAD_PORT : Number(b.port);
    let target: Record<string, unknown>;
    if (typeof b.modelapi === 'string' && isDnsLabel(b.modelapi)) target = { modelAPI: b.modelapi };
    else if (typeof b.service_name === 'string' && isDnsLabel(b.service_name) && Number.isInteger(port) && port > 0 && port < 65536) target = { service: { name: b.service_name, port } };
    else return error(400, `set modelapi (a ModelAPI name) or service_name (a Service name, with port, default ${DEFAULT_WORKLOAD_PORT})`, 'target_required');
    if (typeof b.target_model === 'string' && b.target_model !== '') target.model = b.target_model;
    const name = mappingName(model, ownedBy);
    const body = {
      apiVersion: API_VERSION, kind: 'ModelRoute',
      metadata: { name, namespace: ns, labels: { [ADMIN_LABEL]: 'true' } },
      spec: { model, ...(ownedBy ? { ownedBy } : {}), strategy: 'capacity', targets: [target] },
    };
    const applied = await this.opts.client.request('PATCH', resourcePath(MODEL_ROUTE_TYPE, ns, name), {
      body, contentType: 'application/apply-patch+yaml', query: { fieldManager: ADMIN_FIELD_MANAGER, force: true },
    });
    return { status: 201, body: mapping(applied) };
  }

  /** DELETE `?model=…&owned_by=…[&namespace=…]`: the ModelRoutes for exactly that model and engine. */
  private async remove(q: URLSearchParams): Promise<Reply> {
    const model = q.get('model');
    if (!model) return error(400, 'model is required', 'model_required');
    const ownedBy = q.get('owned_by') || undefined;
    const ns = q.get('namespace') ? this.namespaceOf(q.get('namespace')) : undefined;
    if (ns !== undefined && typeof ns !== 'string') return ns;
    const matching = this.opts.modelRoutes.list().filter((r) => this.inScope(r.metadata.namespace) && (ns === undefined || r.metadata.namespace === ns)
      && r.spec?.model === model && (ownedBy === undefined ? r.spec?.ownedBy === undefined : sameEngine(r.spec?.ownedBy, ownedBy)));
    if (matching.length === 0) return error(404, `no mapping for model ${JSON.stringify(model)}${ownedBy ? ` and owned_by ${JSON.stringify(ownedBy)}` : ''}`, 'mapping_not_found');
    for (const r of matching) {
      await this.opts.client.request('DELETE', resourcePath(MODEL_ROUTE_TYPE, r.metadata.namespace, r.metadata.name), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: r.metadata.uid } },
      }).catch((err) => { if (!(err instanceof ApiError) || err.status !== 404) throw err; });
    }
    return { status: 200, body: { deleted: matching.map((r) => objectKey(r.metadata.namespace, r.metadata.name)) } };
  }

  /** POST /admin/discover `[{namespace, modelapi}]`: the controller runs discovery for these ModelAPIs now. */
  private async discover(b: Record<string, unknown>): Promise<Reply> {
    // Milliseconds: two requests within one second still change the annotation, so both are seen.
    const at = (this.opts.clock ?? (() => new Date()))().toISOString();
    const targets = this.opts.modelApis.list().filter((m) => this.inScope(m.metadata.namespace)
      && (typeof b.namespace !== 'string' || m.metadata.namespace === b.namespace)
      && (typeof b.modelapi !== 'string' || m.metadata.name === b.modelapi));
    for (const m of targets) {
      await this.opts.client.request('PATCH', resourcePath(ourType('ModelAPI'), m.metadata.namespace, m.metadata.name), {
        body: { metadata: { annotations: { [DISCOVER_AT_ANNOTATION]: at } } }, contentType: 'application/merge-patch+json',
      });
    }
    return { status: 202, body: { discoverAt: at, modelapis: targets.map((m) => objectKey(m.metadata.namespace, m.metadata.name)).sort() } };
  }
}
