/**
 * Fake model servers for router tests, on 127.0.0.1: they speak the vLLM/OpenAI shapes (`/v1/models` with
 * owned_by, chat completions plain and streaming, completions, embeddings, `/capacity`) and check what a
 * real server checks — a JSON body with Content-Length and a model they serve, else vLLM's 404.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';

export type Json = Record<string, any>;

export interface FakeModelServer {
  readonly name: string;
  readonly port: number;
  /** Bodies of the completion requests received, parsed. */
  readonly received: Json[];
  /** Free capacity answered on /capacity. */
  capacity: Json;
  /** Streams hold after their first event until this resolves (set it before the request). */
  hold?: Promise<void>;
  /** Set once a stream has sent its last event. */
  streamFinished: boolean;
  /** Set when a client closed a stream before its last event. */
  streamAborted: boolean;
  close(): Promise<void>;
}

/** A vLLM-like server named `name` (also sent as `x-served-by`) serving `models` as engine `engine`. */
export async function fakeModelServer(name: string, models: readonly string[], engine: string): Promise<FakeModelServer> {
  const fake: FakeModelServer = {
    name, port: 0, received: [], capacity: { available_gpus: 1, idle_workers: 1 }, streamFinished: false, streamAborted: false,
    close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'x-served-by': name }).end(text);
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') {
      return json(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: engine, root: id })) });
    }
    if (req.method === 'GET' && path === '/capacity') return json(res, 200, fake.capacity);
    if (req.method !== 'POST' || !['/v1/chat/completions', '/v1/completions', '/v1/embeddings'].includes(path)) return json(res, 404, { detail: 'Not Found' });
    if (req.headers['content-length'] === undefined) return json(res, 411, { detail: 'Content-Length required' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Json;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return json(res, 400, { object: 'error', message: 'invalid JSON', type: 'BadRequestError', code: 400 });
      }
      fake.received.push(body);
      if (!models.includes(body.model)) {
        return json(res, 404, { object: 'error', message: `The model \`${body.model}\` does not exist.`, type: 'NotFoundError', param: null, code: 404 });
      }
      if (typeof body.delay_ms === 'number') {
        const t = setTimeout(() => json(res, 200, { object: 'late' }), body.delay_ms);
        res.on('close', () => clearTimeout(t));
        return;
      }
      if (path === '/v1/embeddings') return json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model: body.model });
      if (!body.stream) {
        return json(res, 200, {
          id: 'chatcmpl-1', object: path === '/v1/completions' ? 'text_completion' : 'chat.completion', created: 1_700_000_000, model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: `hello from ${name}` }, finish_reason: 'stop' }],
        });
      }
      void stream(res, body.model, Number(body.events ?? 5));
    });
  });
  const stream = async (res: http.ServerResponse, model: string, events: number) => {
    let done = false;
    res.on('close', () => { if (!done) fake.streamAborted = true; });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'x-served-by': name });
    const event = (i: number) => `data: ${JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: `t${i}` } }] })}\n\n`;
    res.write(event(0));
    if (fake.hold) await fake.hold;
    for (let i = 1; i < events; i++) {
      if (res.destroyed) return;
      res.write(event(i));
      await new Promise((r) => setImmediate(r));
    }
    if (res.destroyed) return;
    done = true;
    fake.streamFinished = true;
    res.end('data: [DONE]\n\n');
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (fake as { port: number }).port = (server.address() as AddressInfo).port;
  return fake;
}
