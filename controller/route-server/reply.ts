/** What the route server answers, before it is written to the response. */
import http from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string;
}

export type Mode = 'forwardAuth' | 'gateway';

/** Writes `reply` as a small text/plain response. */
export function writeReply(res: http.ServerResponse, reply: Reply): void {
  const body = `${reply.body}\n`;
  res.writeHead(reply.status, {
    'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...(reply.headers ?? {}),
  }).end(body);
}
