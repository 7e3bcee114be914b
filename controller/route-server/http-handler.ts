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
import { Reply, writeReply } from './reply.js';

const CLIENT_URI = /^\/api\/v1\/([^/?#]+)\/instance\/([^/?#]+)(?:[/?#].*)?$/;
const MALFORMED: Reply = { status: 400, body: 'the URI must be /api/v1/{apiKey}/instance/{instanceId}/...' };

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
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return writeReply(res, { status: 200, body: 'ok' });
    if (path === '/metrics') {
      const { registry } = this.deps.metrics;
      return registry.metrics().then((text) => void res.writeHead(200, { 'Content-Type': registry.contentType }).end(text));
    }
    if (path.startsWith('/api/v1/')) return this.proxy(req, res);
    if (path === '/api/route') return this.reply(res, 'forwardAuth', () => this.forwardAuth(req));
    return this.reply(res, 'gateway', () => this.gatewayNative(req, path));
  }

  private async reply(res: http.ServerResponse, endpoint: Endpoint, answer: () => Reply | Promise<Reply>): Promise<void> {
    const end = this.deps.metrics.sampleLatency(endpoint);
    let r: Reply;
    try {
      r = await answer();
    } catch (err) {
      this.deps.metrics.handlerErrors.inc();
      this.deps.log.error({ endpoint, err: (err as Error).message }, 'route request failed');
      r = { status: 500, body: 'internal error' };
    }
    this.deps.metrics.answered(endpoint, r.status);
    writeReply(res, r);
    end?.();
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
    if (!identity) return { status: 401, body: 'unknown API key' };
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
      this.deps.metrics.handlerErrors.inc();
      this.deps.log.error({ endpoint: 'proxy', err: (err as Error).message }, 'route request failed');
      answer = { status: 500, body: 'internal error' };
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
