/**
 * Forwarding a client request that reached the route server itself to its ready instance: the request
 * and the answer are streamed, never buffered, and the `/api/v1/{apiKey}/instance/{id}` prefix (with the
 * key in it) is not passed on.
 */
import http from 'node:http';
import { Logger } from 'pino';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export type UpstreamOf = (namespace: string, service: string, port: number) => Upstream;

/** `{service}.{namespace}.svc` on the Service port. */
export const clusterUpstream: UpstreamOf = (namespace, service, port) => ({ host: `${service}.${namespace}.svc`, port });

const CLIENT_PREFIX = /^\/api\/v1\/[^/?#]+\/instance\/[^/?#]+/;

/** The path the instance sees: the request's path without the client prefix. */
export function upstreamPath(url: string): string {
  const rest = url.replace(CLIENT_PREFIX, '') || '/';
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * Streams `req` to `target` and the answer back; `done` is called with the status once the answer has
 * ended (502 when the instance did not answer).
 */
export function forward(req: http.IncomingMessage, res: http.ServerResponse, target: Upstream, log: Logger, done: (status: number) => void): void {
  const headers = { ...req.headers, host: `${target.host}:${target.port}` };
  const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: upstreamPath(req.url ?? '/'), headers }, (up) => {
    const status = up.statusCode ?? 502;
    res.writeHead(status, up.headers);
    up.pipe(res);
    up.on('end', () => done(status));
    up.on('error', () => res.destroy());
  });
  upstream.on('error', (err) => {
    log.warn({ upstream: `${target.host}:${target.port}`, err: err.message }, 'instance did not answer');
    if (res.headersSent) { res.destroy(); return; }
    const body = 'instance did not answer\n';
    res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
    done(502);
  });
  // A client that goes away stops the upstream request too.
  res.on('close', () => { if (!res.writableFinished) upstream.destroy(); });
  req.pipe(upstream);
}
