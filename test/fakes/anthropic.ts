/**
 * A fake Anthropic Messages API that checks what the real one checks: `x-api-key` (401), `anthropic-version`
 * (400), and a Messages-shaped body — an OpenAI-shaped one (system or tool roles, `image_url` parts,
 * `tool_calls`, unknown top-level fields such as `stream_options`, no `max_tokens`) is refused with 400 as
 * Anthropic refuses it. Answers plain or as Anthropic's SSE events.
 */
import { ServerResponse } from 'node:http';
import { Behaviour, FakeServer, RecordedRequest, sendJson, sleep, startFake, words } from './fake-server.js';

const TOP_LEVEL = new Set(['model', 'messages', 'max_tokens', 'system', 'temperature', 'top_p', 'top_k', 'stop_sequences',
  'stream', 'tools', 'tool_choice', 'metadata', 'thinking', 'service_tier']);
const BLOCK_TYPES = new Set(['text', 'image', 'tool_use', 'tool_result', 'document']);

function error(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { type: 'error', error: { type, message } });
}

/** Why a body is not a Messages body, or undefined when it is one. */
export function messagesShapeProblem(body: Record<string, any>): string | undefined {
  for (const k of Object.keys(body)) if (!TOP_LEVEL.has(k)) return `${k}: Extra inputs are not permitted`;
  if (typeof body.model !== 'string') return 'model: Field required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: Field required';
  for (const [i, m] of body.messages.entries()) {
    if (m?.role !== 'user' && m?.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    for (const k of Object.keys(m)) if (k !== 'role' && k !== 'content') return `messages.${i}.${k}: Extra inputs are not permitted`;
    if (typeof m.content === 'string') continue;
    if (!Array.isArray(m.content)) return `messages.${i}.content: Input should be a valid list`;
    for (const [j, c] of m.content.entries()) {
      if (!BLOCK_TYPES.has(c?.type)) return `messages.${i}.content.${j}.type: Input tag '${c?.type}' found is not one of the expected tags`;
    }
  }
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) return 'system: Input should be a valid string';
  return undefined;
}

async function stream(res: ServerResponse, body: Record<string, any>, b: Behaviour): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send('message_start', {
    type: 'message_start',
    message: { id: 'msg_fake', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, usage: { input_tokens: b.inputTokens ?? 12, output_tokens: 1 } },
  });
  if (b.cutAfterFirstEvent) { res.destroy(); return; }
  send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  send('ping', { type: 'ping' });
  for (const w of words(b.reply ?? 'Hello from the fake Anthropic.')) {
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } });
    if (b.eventGapMs) await sleep(b.eventGapMs);
  }
  send('content_block_stop', { type: 'content_block_stop', index: 0 });
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    send('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_fake', name: body.tools[0].name, input: {} } });
    send('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": ' } });
    send('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } });
    send('content_block_stop', { type: 'content_block_stop', index: 1 });
  }
  const stop = Array.isArray(body.tools) && body.tools.length > 0 ? 'tool_use' : 'end_turn';
  send('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: b.outputTokens ?? 7 } });
  send('message_stop', { type: 'message_stop' });
  res.end();
}

async function handle(apiKey: string, req: RecordedRequest, res: ServerResponse, b: Behaviour): Promise<void> {
  if (req.method !== 'POST' || req.path !== '/v1/messages') return error(res, 404, 'not_found_error', `no route ${req.method} ${req.path}`);
  if (req.headers['x-api-key'] !== apiKey) return error(res, 401, 'authentication_error', 'invalid x-api-key');
  if (typeof req.headers['anthropic-version'] !== 'string') return error(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
  if (b.failWith) return error(res, b.failWith, b.failWith === 529 || b.failWith === 503 ? 'overloaded_error' : b.failWith === 429 ? 'rate_limit_error' : 'api_error', `fake failure ${b.failWith}`);
  let body: Record<string, any>;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return error(res, 400, 'invalid_request_error', 'The request body is not valid JSON.');
  }
  const problem = messagesShapeProblem(body);
  if (problem) return error(res, 400, 'invalid_request_error', problem);
  if (body.stream === true) return stream(res, body, b);
  const tool = Array.isArray(body.tools) && body.tools.length > 0
    ? [{ type: 'tool_use', id: 'toolu_fake', name: body.tools[0].name, input: { city: 'Paris' } }] : [];
  sendJson(res, 200, {
    id: 'msg_fake', type: 'message', role: 'assistant', model: body.model,
    content: [{ type: 'text', text: b.reply ?? 'Hello from the fake Anthropic.' }, ...tool],
    stop_reason: tool.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null,
    usage: { input_tokens: b.inputTokens ?? 12, output_tokens: b.outputTokens ?? 7, cache_read_input_tokens: 0 },
  });
}

export function startFakeAnthropic(apiKey: string): Promise<FakeServer> {
  return startFake((req, res, b) => handle(apiKey, req, res, b));
}
