/** What the route server answers, before it is written to the response. */
import http from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string;
}

/** A reply with its response headers and payload built once, for an answer given many times. */
export interface PreparedReply extends Reply {
  readonly head: http.OutgoingHttpHeaders;
  readonly payload: string;
}

export type Mode = 'forwardAuth' | 'gateway';

/** `reply` with the headers and payload `writeReply` sends: a small text/plain response. */
export function prepare(reply: Reply): PreparedReply {
  const payload = `${reply.body}\n`;
  return {
    ...reply,
    payload,
    head: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(payload), ...(reply.headers ?? {}) },
  };
}

function isPrepared(reply: Reply): reply is PreparedReply {
  return (reply as PreparedReply).head !== undefined;
}

/** Writes `reply` as a small text/plain response. */
export function writeReply(res: http.ServerResponse, reply: Reply): void {
  const p = isPrepared(reply) ? reply : prepare(reply);
  res.writeHead(p.status, p.head).end(p.payload);
}
