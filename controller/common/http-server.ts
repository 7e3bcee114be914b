/**
 * Every HTTP listener of agentway is made here: bound to an explicit address, with the time a client may
 * take to send its headers and its whole request set explicitly (Node's defaults are 60 s and 300 s, and
 * are only checked every 30 s), and with a guard so that no request can end the process.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
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

const ignore = (): void => undefined;

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
    req.on('error', ignore);
    res.on('error', ignore);
    try {
      const result = handler(req, res);
      if (result instanceof Promise) result.catch((err) => fail(res, err));
    } catch (err) {
      fail(res, err);
    }
  };
}

// Node's own answers to a client error, which a 'clientError' listener replaces.
const ERROR_ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/** What Node does with a client error: answer it if no response has begun on the socket, then close it. */
function refuse(socket: Duplex, code: string | undefined): void {
  const inFlight = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (socket.writable && (!inFlight || !inFlight.headersSent)) {
    socket.write(`HTTP/1.1 ${(code && ERROR_ANSWERS[code]) ?? '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
  }
  socket.destroy();
}

/** The state Node's HTTP parser keeps for the request a connection is receiving. */
interface RequestProgress {
  /** Milliseconds since the request's first byte (or, before the first request, since the connection opened); 0 between requests. */
  duration(): number;
  headersCompleted(): boolean;
}

function progressOf(socket: Duplex): RequestProgress | undefined {
  const parser = (socket as { parser?: Partial<RequestProgress> }).parser;
  return typeof parser?.duration === 'function' && typeof parser.headersCompleted === 'function' ? parser as RequestProgress : undefined;
}

/**
 * Node enforces headersTimeout and requestTimeout with a periodic sweep over the connections its parser
 * lists as receiving a request, and answers each one the sweep reports with 408 and closes it. Under
 * keep-alive load that sweep has reported connections that were between requests, or whose request had
 * only just begun, and a 408 there fails a client that did nothing wrong. So each report is checked against
 * the connection's own parser: a request still incomplete past its limit is cut off as before; a connection
 * between requests is left to keepAliveTimeout; a request younger than its limit is checked again when it
 * would reach it (the sweep no longer watches it).
 */
function onRequestTimeoutReport(server: http.Server, socket: Duplex, log?: Logger): void {
  const progress = progressOf(socket);
  if (!progress) return refuse(socket, 'ERR_HTTP_REQUEST_TIMEOUT');
  const limitOf = (p: RequestProgress) => (p.headersCompleted() ? server.requestTimeout : server.headersTimeout);
  const elapsed = progress.duration();
  const limit = limitOf(progress);
  if (elapsed > 0 && (limit === 0 || elapsed >= limit)) return refuse(socket, 'ERR_HTTP_REQUEST_TIMEOUT');
  // Rare, and only Node's own sweep causes it: worth a line when it happens.
  log?.info({ requestMs: Math.round(elapsed), limitMs: limit }, 'request timeout reported for a connection that is not overdue: not cut off');
  if (elapsed === 0) return;
  setTimeout(() => {
    if (socket.destroyed || progressOf(socket) !== progress) return;
    // A request that began after the report is younger than its limit: only the reported one is cut off.
    if (progress.duration() >= limitOf(progress)) refuse(socket, 'ERR_HTTP_REQUEST_TIMEOUT');
  }, limit - elapsed + 1).unref();
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
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') onRequestTimeoutReport(server, socket, opts.log);
    else refuse(socket, err.code);
  });
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
