/**
 * A fake OpenAI-compatible server: checks `Authorization: Bearer <key>` as OpenAI does (401 otherwise) and
 * answers chat completions plain or as SSE, with a usage chunk when `stream_options.include_usage` is set.
 */
import { ServerResponse } from 'node:http';
import { Behaviour, FakeServer, RecordedRequest, sendJson, sleep, startFake, words } from './fake-server.js';

export interface FakeOpenAIOptions {
  /** The key clients must present; undefined means none is checked (Ollama). */
  readonly apiKey?: string;
  /** Path prefix the server answers under, e.g. `/v1`. */
  readonly prefix?: string;
}

function error(res: ServerResponse, status: number, message: string, code: string | null): void {
  sendJson(res, status, { error: { message, type: status === 401 ? 'invalid_request_error' : 'server_error', code } });
}

async function handle(opts: FakeOpenAIOptions, req: RecordedRequest, res: ServerResponse, b: Behaviour): Promise<void> {
  const prefix = opts.prefix ?? '/v1';
  if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
    return error(res, 401, 'Incorrect API key provided.', 'invalid_api_key');
  }
  if (req.method !== 'POST' || req.path !== `${prefix}/chat/completions`) return error(res, 404, `no route ${req.method} ${req.path}`, 'not_found');
  if (b.failWith) return error(res, b.failWith, `fake failure ${b.failWith}`, null);
  let body: Record<string, any>;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return error(res, 400, 'We could not parse the JSON body of your request.', null);
  }
  if (typeof body.model !== 'string' || !Array.isArray(body.messages)) return error(res, 400, 'model and messages are required', null);
  const reply = b.reply ?? 'Hello from the fake OpenAI.';
  const usage = { prompt_tokens: b.inputTokens ?? 10, completion_tokens: b.outputTokens ?? 5, total_tokens: (b.inputTokens ?? 10) + (b.outputTokens ?? 5) };
  const base = { id: 'chatcmpl-fake', created: 1700000000, model: body.model };
  if (body.stream !== true) {
    return sendJson(res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }], usage });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (v: unknown) => res.write(`data: ${JSON.stringify(v)}\n\n`);
  const parts = words(reply);
  for (let i = 0; i < parts.length; i++) {
    send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: parts[i] } : { content: parts[i] }, finish_reason: null }] });
    if (i === 0 && b.cutAfterFirstEvent) { res.destroy(); return; }
    if (b.eventGapMs) await sleep(b.eventGapMs);
  }
  send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  if (body.stream_options?.include_usage === true) send({ ...base, object: 'chat.completion.chunk', choices: [], usage });
  res.end('data: [DONE]\n\n');
}

export function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeServer> {
  return startFake((req, res, b) => handle(opts, req, res, b));
}
