/**
 * Every HTTP listener of agentway is made here: bound to an explicit address, with the time a client may
 * take to send its headers and its whole request set explicitly (Node's defaults are 60 s and 300 s, and
 * are only checked every 30 s), and with a guard so that no request can end the process.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from 'pino';

export interface ListenOptions {
  /** Address to bind. @default every interface (IPv6 and IPv4 where available) */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** A client must have sent its request headers within this time. @default 10 s */
  readonly headersTimeoutMs?: number;
  /** A client must have sent its whole request within this time. @default 60 s */
  readonly requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this time. @default 65 s */
  readonly keepAliveTimeoutMs?: number;
  /** Where a handler's unexpected error is logged. */
  readonly log?: Logger;
}

/** Node's defaults, which these replace. */
export const DEFAULT_TIMEOUTS = { headersMs: 10_000, requestMs: 60_000, keepAliveMs: 65_000 } as const;

/**
 * Wraps `handler` so that an exception it throws, or a promise it returns that rejects, becomes a 500 and
 * a log line instead of ending the process.
 */
export function guarded(handler: (req: http.IncomingMessage, res: http.ServerResponse) => unknown, log?: Logger): http.RequestListener {
  const fail = (res: http.ServerResponse, err: unknown) => {
    log?.error({ err: err instanceof Error ? err.message : 'non-error thrown' }, 'request handler failed');
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 15 }).end('internal error\n');
    } else {
      res.destroy();
    }
  };
  return (req, res) => {
    // A client that resets its connection mid-request emits 'error' on both; unhandled, that would throw.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    try {
      const result = handler(req, res);
      if (result instanceof Promise) result.catch((err) => fail(res, err));
    } catch (err) {
      fail(res, err);
    }
  };
}

/** Creates the server, binds it and resolves once it listens; the bound port is `server.address().port`. */
export async function listen(handler: http.RequestListener, opts: ListenOptions): Promise<http.Server> {
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_TIMEOUTS.requestMs;
  const server = http.createServer({
    headersTimeout: Math.min(opts.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersMs, requestTimeout),
    requestTimeout,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? DEFAULT_TIMEOUTS.keepAliveMs,
    // The two timeouts above are enforced by a sweep this often (Node's default: every 30 s).
    connectionsCheckingInterval: 1000,
  }, guarded(handler, opts.log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  return server;
}

/** The port a listening server is bound to. */
export function boundPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
