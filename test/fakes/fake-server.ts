/**
 * The part every fake provider shares: a node:http server on 127.0.0.1 (never any other address) with a
 * random port, that records each request it gets and answers through the fake's handler. A test changes a
 * fake's behaviour between requests (fail with a status, stall before the first byte, cut a stream).
 */
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** What the next requests get; reset with `fake.behave({})`. */
export interface Behaviour {
  /** Answer every request with this status and an error body in the provider's shape. */
  readonly failWith?: number;
  /** Accept the connection and send nothing for this long before answering. */
  readonly delayMs?: number;
  /** Streaming: send the first event, then destroy the socket. */
  readonly cutAfterFirstEvent?: boolean;
  /** Milliseconds between streamed events. */
  readonly eventGapMs?: number;
  /** Text of the answer. */
  readonly reply?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
}

export interface FakeServer {
  /** Base URL without a path, e.g. http://127.0.0.1:41234. */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  behave(b: Behaviour): void;
  close(): Promise<void>;
}

export type FakeHandler = (req: RecordedRequest, res: ServerResponse, behaviour: Behaviour) => Promise<void> | void;

const MAX_BODY = 16 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new Error('body too large')); req.destroy(); return; }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

export async function startFake(handler: FakeHandler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  let behaviour: Behaviour = {};
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body };
      requests.push(recorded);
      const b = behaviour;
      if (b.delayMs) await sleep(b.delayMs);
      if (res.destroyed) return;
      await handler(recorded, res, b);
    })().catch((err: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake failed: ${err.message}` } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    behave: (b) => { behaviour = b; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Words of a reply, each with its leading space, as providers stream them. */
export function words(text: string): string[] {
  return text.split(/(?= )/);
}
