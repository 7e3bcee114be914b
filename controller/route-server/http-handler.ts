/**
 * The route server's HTTP surface: `/healthz`, `/metrics`, Traefik forwardAuth on `/api/route`, client
 * requests sent to the route server itself on `/api/v1/{apiKey}/instance/{id}/…`, and the Gateway-native
 * catch-all `/{ns}/client/{pool}/{clientId}/{instanceId}/…`. Everything a client sends is parsed without
 * throwing: malformed input is a 400.
 */
import http from 'node:http';
import { Logger } from 'pino';
import { ApiKeyIndex } from './api-keys.js';
import { RouteMetrics } from './metrics.js';
import { Provisioner } from './provisioning.js';
import { UpstreamOf, forward } from './proxy.js';
import { Reply, prepare, writeReply } from './reply.js';

const CLIENT_URI = /^\/api\/v1\/([^/?#]+)\/instance\/([^/?#]+)(?:[/?#].*)?$/;
const INTERNAL_ERROR: Reply = prepare({ status: 500, body: 'internal error' });
const UNKNOWN_KEY: Reply = prepare({ status: 401, body: 'unknown API key' });
const MALFORMED: Reply = prepare({ status: 400, body: 'the URI must be /api/v1/{apiKey}/instance/{instanceId}/...' });

export interface ClientUri {
  readonly apiKey: string;
  readonly instance: string;
}

/** The key and instance id of `/api/v1/{apiKey}/instance/{instanceId}/…`; undefined when malformed. */
export function parseClientUri(uri: string | undefined): ClientUri | undefined {
  const m = uri === undefined ? null : CLIENT_URI.exec(uri);
  if (!m) return undefined;
  try {
    return { apiKey: decodeURIComponent(m[1]), instance: m[2] };
  } catch {
    return undefined; // a bad percent-escape
  }
}

export interface HandlerDeps {
  readonly keys: ApiKeyIndex;
  readonly provisioner: Provisioner;
  readonly metrics: RouteMetrics;
  readonly log: Logger;
  readonly upstream: UpstreamOf;
}

type Endpoint = 'forwardAuth' | 'gateway' | 'proxy';

export class RouteHandler {
  public constructor(private readonly deps: HandlerDeps) {}

  /** Answers one request; a returned promise that rejects is turned into a 500 by the listener's guard. */
  public handle(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (path === '/healthz') return writeReply(res, { status: 200, body: 'ok' });
    if (path === '/metrics') {
      const { registry } = this.deps.metrics;
      return registry.metrics().then((text) => void res.writeHead(200, { 'Content-Type': registry.contentType }).end(text));
    }
    if (path.startsWith('/api/v1/')) return this.proxy(req, res);
    if (path === '/api/route') return this.reply(res, 'forwardAuth', () => this.forwardAuth(req));
    return this.reply(res, 'gateway', () => this.gatewayNative(req, path));
  }

  /** Answers synchronously when the answer is at hand (most requests), else once it is. */
  private reply(res: http.ServerResponse, endpoint: Endpoint, answer: () => Reply | Promise<Reply>): void | Promise<void> {
    const end = this.deps.metrics.sampleLatency(endpoint);
    let r: Reply | Promise<Reply>;
    try {
      r = answer();
    } catch (err) {
      r = this.failed(endpoint, err);
    }
    if (r instanceof Promise) {
      return r.then(undefined, (err: unknown) => this.failed(endpoint, err)).then((settled) => this.finish(res, endpoint, settled, end));
    }
    this.finish(res, endpoint, r, end);
  }

  private finish(res: http.ServerResponse, endpoint: Endpoint, r: Reply, end: (() => void) | undefined): void {
    this.deps.metrics.answered(endpoint, r.status);
    writeReply(res, r);
    end?.();
  }

  private failed(endpoint: Endpoint, err: unknown): Reply {
    this.deps.metrics.handlerErrors.inc();
    this.deps.log.error({ endpoint, err: (err as Error).message }, 'route request failed');
    return INTERNAL_ERROR;
  }

  /** Traefik forwardAuth: the original URI arrives in X-Forwarded-Uri as /api/v1/{apiKey}/instance/{id}/…. */
  private forwardAuth(req: http.IncomingMessage): Reply | Promise<Reply> {
    if (req.method !== 'GET' && req.method !== 'POST') return { status: 405, headers: { Allow: 'GET, POST' }, body: 'method not allowed' };
    const uri = req.headers['x-forwarded-uri'];
    return this.clientAnswer(typeof uri === 'string' ? uri : undefined, 'forwardAuth');
  }

  private clientAnswer(uri: string | undefined, mode: 'forwardAuth'): Reply | Promise<Reply> {
    const parsed = parseClientUri(uri);
    if (!parsed) return MALFORMED;
    const identity = this.deps.keys.lookup(parsed.apiKey);
    if (!identity) return UNKNOWN_KEY;
    return this.deps.provisioner.answer(identity, parsed.instance, mode);
  }

  /**
   * A client request that reached the route server itself (Traefik's IngressRoute after forwardAuth, or a
   * client calling it directly): the forwardAuth answers, and once the instance is ready the request is
   * forwarded to its Service.
   */
  private async proxy(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const end = this.deps.metrics.sampleLatency('proxy');
    let answer: Reply;
    try {
      answer = await this.clientAnswer(req.url, 'forwardAuth');
    } catch (err) {
      answer = this.failed('proxy', err);
    }
    const finished = (status: number) => { this.deps.metrics.answered('proxy', status); end?.(); };
    if (answer.status !== 200) { writeReply(res, answer); finished(answer.status); return; }
    const h = answer.headers!;
    const target = this.deps.upstream(h['X-Pod-Namespace'], h['X-Pod-Service'], Number(h['X-Pod-Port']));
    forward(req, res, target, this.deps.log, finished);
  }

  /** The pool's catch-all route: /{ns}/client/{pool}/{clientId}/{instanceId}/…, the key in a header. */
  private gatewayNative(req: http.IncomingMessage, path: string): Reply | Promise<Reply> {
    const parts = path.split('/');
    if (parts.length < 6 || parts[2] !== 'client') return { status: 404, body: 'not found' };
    const [, namespace, , pool, client, instance] = parts;
    const auth = req.headers.authorization;
    const presented = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-api-key'];
    const identity = typeof presented === 'string' ? this.deps.keys.lookup(presented) : undefined;
    if (!identity || identity.namespace !== namespace || identity.pool !== pool || identity.client !== client) {
      return { status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'unknown API key for this client' };
    }
    return this.deps.provisioner.answer(identity, instance, 'gateway');
  }
}
