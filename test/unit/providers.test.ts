/**
 * Provider adapters (DESIGN §9) without any server: URL joining, credential injection, and the translation
 * of OpenAI chat completions to and from Anthropic Messages and Bedrock Converse, streams included.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { anthropicRequestBody, anthropicUsage, openAIFromAnthropic } from '../../controller/router/providers/anthropic.js';
import { ConverseStreamTranslator, converseRequestBody, parseAwsCredentials } from '../../controller/router/providers/bedrock.js';
import { readChatRequest } from '../../controller/router/providers/chat.js';
import { joinUrl } from '../../controller/router/providers/http.js';
import { ProviderTarget, ResponseContext, StreamTranslator, TranslationError, providerAdapter } from '../../controller/router/providers/index.js';
import { SseReader } from '../../controller/router/providers/sse.js';

const ctx: ResponseContext = { model: 'claude', created: 1700000000, requestId: 'req-1' };
const now = new Date('2026-01-02T03:04:05Z');
const chatBody = (extra: Record<string, unknown> = {}) => ({ model: 'claude', messages: [{ role: 'user', content: 'Hi' }], ...extra });

/** The JSON payloads of the `data:` events in SSE text, `[DONE]` as the string. */
function sseEvents(text: string): unknown[] {
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => {
    const d = e.slice(6);
    return d === '[DONE]' ? d : JSON.parse(d);
  });
}

/** Feeds a stream to a translator one byte at a time, the worst split there is. */
function translateBytewise(t: StreamTranslator, bytes: Buffer): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += t.push(bytes.subarray(i, i + 1));
  return out + t.end();
}

describe('joinUrl', () => {
  test.each([
    ['https://api.openai.com/v1', '/chat/completions', 'https://api.openai.com/v1/chat/completions'],
    ['https://api.openai.com/v1/', '/chat/completions', 'https://api.openai.com/v1/chat/completions'],
    ['https://api.anthropic.com', '/v1/messages', 'https://api.anthropic.com/v1/messages'],
    ['http://proxy.ns.svc:8080/anthropic/', '/v1/messages', 'http://proxy.ns.svc:8080/anthropic/v1/messages'],
    ['https://bedrock-runtime.us-east-1.amazonaws.com?x=1', '/model/m/converse', 'https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse'],
  ])('%s + %s', (base, path, want) => {
    expect(joinUrl(base, path)).toBe(want);
  });
});

describe('pass-through providers', () => {
  test('openai: model replaced, bearer credential, URL under /v1', async () => {
    const a = providerAdapter({ type: 'openai', url: 'https://api.openai.com/v1', model: 'gpt-4o-mini', credential: 'sk-1' });
    const req = await a.prepare('/chat/completions', chatBody({ temperature: 0 }), now);
    expect(req.url).toBe('https://api.openai.com/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-1');
    expect(JSON.parse(req.body.toString())).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 });
    expect(req.headers['content-length']).toBe(String(req.body.length));
    expect(a.translateResponse(Buffer.from('{}'), ctx)).toBeUndefined();
  });

  test('ollama: no credential even when one is configured; embeddings pass through', async () => {
    const a = providerAdapter({ type: 'ollama', url: 'http://ollama:11434/v1', credential: 'unused' });
    const req = await a.prepare('/embeddings', { model: 'nomic', input: 'x' }, now);
    expect(req.url).toBe('http://ollama:11434/v1/embeddings');
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.parse(req.body.toString()).model).toBe('nomic');
  });
});

describe('OpenAI chat → Anthropic Messages', () => {
  const body = {
    model: 'claude',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '21C' },
      { role: 'user', content: 'Thanks' },
    ],
    tools: [{ type: 'function', function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    tool_choice: 'required',
    stop: 'END',
    temperature: 0.2,
    max_tokens: 100,
    stream_options: { include_usage: true },
  };

  test('system and developer messages become `system`; turns alternate; tools and tool results are translated', () => {
    const out = anthropicRequestBody(readChatRequest(body), 'claude-3-5-haiku-latest');
    expect(out).toEqual({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 100,
      system: 'Be brief.\n\nUse metric units.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } }] },
        // The tool result and the next user message are one user turn.
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '21C' }, { type: 'text', text: 'Thanks' }] },
      ],
      temperature: 0.2,
      stop_sequences: ['END'],
      tools: [{ name: 'weather', description: 'Weather now', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any' },
    });
  });

  test('max_tokens defaults (Anthropic requires it); max_completion_tokens wins over max_tokens', () => {
    expect(anthropicRequestBody(readChatRequest(chatBody()), 'm').max_tokens).toBe(4096);
    expect(anthropicRequestBody(readChatRequest(chatBody({ max_tokens: 5, max_completion_tokens: 9 })), 'm').max_tokens).toBe(9);
  });

  test('the adapter sends x-api-key and anthropic-version to {url}/v1/messages, never a bearer token', async () => {
    const a = providerAdapter({ type: 'anthropic', url: 'https://api.anthropic.com', model: 'claude-x', credential: 'ak-1' });
    const req = await a.prepare('/chat/completions', chatBody({ stream: true }), now);
    expect(req.url).toBe('https://api.anthropic.com/v1/messages');
    expect(req.headers['x-api-key']).toBe('ak-1');
    expect(req.headers['anthropic-version']).toBe('2023-06-01');
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.parse(req.body.toString())).toMatchObject({ model: 'claude-x', stream: true });
  });

  test.each([
    ['embeddings', '/embeddings', { model: 'm', input: 'x' }, /not offered by Anthropic/],
    ['n > 1', '/chat/completions', chatBody({ n: 2 }), /n: only 1/],
    ['an unknown role', '/chat/completions', { model: 'm', messages: [{ role: 'critic', content: 'x' }] }, /unsupported role/],
    ['bad tool arguments', '/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{' } }] }] }, /must be a JSON string/],
    ['no messages', '/chat/completions', { model: 'm', messages: [] }, /non-empty/],
  ] as const)('refuses %s with a TranslationError', async (_name, op, b, message) => {
    const a = providerAdapter({ type: 'anthropic', url: 'https://api.anthropic.com', credential: 'k' });
    await expect(a.prepare(op, b as Record<string, unknown>, now)).rejects.toThrow(TranslationError);
    await expect(a.prepare(op, b as Record<string, unknown>, now)).rejects.toThrow(message);
  });
});

describe('Anthropic Messages → OpenAI chat', () => {
  test('text, tool calls, finish reason and usage with cache reads counted as prompt tokens', () => {
    const out = openAIFromAnthropic({
      id: 'msg_1', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 't1', name: 'weather', input: { city: 'Paris' } }],
      stop_reason: 'tool_use', usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 90, cache_creation_input_tokens: 5 },
    }, ctx);
    expect(out).toEqual({
      id: 'msg_1', object: 'chat.completion', created: 1700000000, model: 'claude',
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 't1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] } }],
      usage: { prompt_tokens: 105, completion_tokens: 4, total_tokens: 109, prompt_tokens_details: { cached_tokens: 90 } },
    });
  });

  test.each([['end_turn', 'stop'], ['max_tokens', 'length'], ['stop_sequence', 'stop'], ['refusal', 'content_filter']])('stop_reason %s → %s', (stop, finish) => {
    expect((openAIFromAnthropic({ content: [], stop_reason: stop }, ctx).choices as any)[0].finish_reason).toBe(finish);
  });

  test('errors keep the message and name the Anthropic type as code', () => {
    const a = providerAdapter({ type: 'anthropic', url: 'https://api.anthropic.com' });
    const out = JSON.parse(a.translateError(529, Buffer.from('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'))!.toString());
    expect(out).toEqual({ error: { message: 'Overloaded', type: 'api_error', code: 'overloaded_error' } });
  });

  test('usage without cache fields', () => {
    expect(anthropicUsage({ input_tokens: 3, output_tokens: 2 })).toEqual({ promptTokens: 3, completionTokens: 2, cachedTokens: 0 });
  });
});

const anthropicStream = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_9","usage":{"input_tokens":25,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type":"ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Héllo"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\":"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\\"Paris\\"}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":15}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

describe('Anthropic stream → OpenAI chunks', () => {
  const expected = [
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { content: 'Héllo' }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { content: ' world' }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '' } }] }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: null }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
    { id: 'msg_9', object: 'chat.completion.chunk', created: 1700000000, model: 'claude', choices: [], usage: { prompt_tokens: 25, completion_tokens: 15, total_tokens: 40, prompt_tokens_details: { cached_tokens: 0 } } },
    '[DONE]',
  ];

  test('every event is translated, usage comes last, then [DONE]', () => {
    const t = providerAdapter({ type: 'anthropic', url: 'https://a' }).streamTranslator(ctx)!;
    expect(sseEvents(t.push(Buffer.from(anthropicStream)) + t.end())).toEqual(expected);
    expect(t.usage()).toEqual({ promptTokens: 25, completionTokens: 15, cachedTokens: 0 });
  });

  test('the same output when the stream arrives one byte at a time (split UTF-8 included)', () => {
    const t = providerAdapter({ type: 'anthropic', url: 'https://a' }).streamTranslator(ctx)!;
    expect(sseEvents(translateBytewise(t, Buffer.from(anthropicStream)))).toEqual(expected);
  });

  test('a text delta is written as soon as its event is complete', () => {
    const t = providerAdapter({ type: 'anthropic', url: 'https://a' }).streamTranslator(ctx)!;
    const [start, , , delta] = anthropicStream.split(/(?<=\n\n)/);
    t.push(Buffer.from(start));
    expect(sseEvents(t.push(Buffer.from(delta)))).toHaveLength(1);
  });

  test('a stream cut before message_stop ends with an error event, not [DONE]', () => {
    const t = providerAdapter({ type: 'anthropic', url: 'https://a' }).streamTranslator(ctx)!;
    const events = sseEvents(t.push(Buffer.from(anthropicStream.slice(0, 400))) + t.end());
    expect(events).not.toContain('[DONE]');
    expect(events[events.length - 1]).toMatchObject({ error: { code: 'upstream_stream_incomplete' } });
  });

  test('an error event becomes an OpenAI error event and ends the translation', () => {
    const t = providerAdapter({ type: 'anthropic', url: 'https://a' }).streamTranslator(ctx)!;
    const out = t.push(Buffer.from('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')) + t.end();
    expect(sseEvents(out)).toEqual([{ error: { message: 'Overloaded', type: 'api_error', code: 'overloaded_error' } }]);
  });
});

describe('SseReader', () => {
  test('CRLF and CR line ends, comments, multi-line data', () => {
    const r = new SseReader();
    const events = [...r.push(Buffer.from(': hi\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r')), ...r.push(Buffer.from('\ndata: x\r\r')), ...r.end()];
    expect(events).toEqual([{ event: 'a', data: '1\n2' }, { event: 'message', data: 'x' }]);
  });
});

describe('Bedrock', () => {
  test('credentials from JSON or id:secret[:token]; errors never echo the value', () => {
    expect(parseAwsCredentials('{"accessKeyId":"AK","secretAccessKey":"SK","sessionToken":"T"}')).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' });
    expect(parseAwsCredentials('AK:SK')).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK' });
    expect(parseAwsCredentials('AK:SK:T:with:colons')).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T:with:colons' });
    expect(() => parseAwsCredentials('secretvalue')).toThrow(/must be JSON or accessKeyId:secretAccessKey/);
    expect(() => parseAwsCredentials('secretvalue')).not.toThrow(/secretvalue/);
  });

  test('Converse body: system list, inferenceConfig, tools, tool results; no model or OpenAI fields', () => {
    const chat = readChatRequest({
      model: 'x', max_tokens: 50, temperature: 0, top_p: 0.9, stop: ['a'], stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'Q' },
        { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{"a":1}' } }] },
        { role: 'tool', tool_call_id: 'c', content: 'R' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
    });
    expect(converseRequestBody(chat)).toEqual({
      messages: [
        { role: 'user', content: [{ text: 'Q' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 'c', name: 'f', input: { a: 1 } } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 'c', content: [{ text: 'R' }] } }] },
      ],
      system: [{ text: 'S' }],
      inferenceConfig: { maxTokens: 50, temperature: 0, topP: 0.9, stopSequences: ['a'] },
      toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }], toolChoice: { tool: { name: 'f' } } },
    });
  });

  test('the URL carries the escaped model id and the operation; the request is signed for the region', async () => {
    const target: ProviderTarget = { type: 'bedrock', url: 'https://bedrock-runtime.eu-west-1.amazonaws.com', region: 'eu-west-1', model: 'anthropic.claude-3-haiku-20240307-v1:0', credential: 'AKIDEXAMPLE:secret' };
    const plain = await providerAdapter(target).prepare('/chat/completions', chatBody(), now);
    const streamed = await providerAdapter(target).prepare('/chat/completions', chatBody({ stream: true }), now);
    expect(plain.url).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    expect(streamed.url).toBe('https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
    expect(plain.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/eu-west-1\/bedrock\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
    expect(plain.headers['x-amz-date']).toBe('20260102T030405Z');
    expect(plain.headers.authorization).not.toContain('secret');
  });

  test('a bad credential is refused before anything is sent', async () => {
    const a = providerAdapter({ type: 'bedrock', url: 'https://b', region: 'us-east-1', credential: 'nocolon' });
    await expect(a.prepare('/chat/completions', chatBody(), now)).rejects.toThrow(/accessKeyId/);
  });

  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const ev = (type: string, payload: unknown) => Buffer.from(codec.encode({
    headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: type }, ':content-type': { type: 'string', value: 'application/json' } },
    body: fromUtf8(JSON.stringify(payload)),
  }));
  const stream = Buffer.concat([
    ev('messageStart', { role: 'assistant' }),
    ev('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Bon' }, p: 'abc' }),
    ev('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'jour' } }),
    ev('contentBlockStop', { contentBlockIndex: 0 }),
    ev('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tu1', name: 'f' } } }),
    ev('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"a":1}' } } }),
    ev('messageStop', { stopReason: 'tool_use' }),
    ev('metadata', { usage: { inputTokens: 7, outputTokens: 3, totalTokens: 10, cacheReadInputTokens: 2 } }),
  ]);
  const expected = [
    { choices: [{ delta: { role: 'assistant', content: '' } }] },
    { choices: [{ delta: { content: 'Bon' } }] },
    { choices: [{ delta: { content: 'jour' } }] },
    { choices: [{ delta: { tool_calls: [{ index: 0, id: 'tu1', type: 'function', function: { name: 'f', arguments: '' } }] } }] },
    { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] } }] },
    { choices: [{ delta: {}, finish_reason: 'tool_calls' }] },
    { choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12, prompt_tokens_details: { cached_tokens: 2 } } },
    '[DONE]',
  ];

  test('event stream → OpenAI chunks, whole or one byte at a time', () => {
    const whole = new ConverseStreamTranslator(ctx);
    expect(sseEvents(whole.push(stream) + whole.end())).toMatchObject(expected);
    expect(sseEvents(translateBytewise(new ConverseStreamTranslator(ctx), stream))).toMatchObject(expected);
    expect(whole.usage()).toEqual({ promptTokens: 9, completionTokens: 3, cachedTokens: 2 });
  });

  test('a corrupted frame (bad CRC) becomes an error event, never a crash', () => {
    const bad = Buffer.from(stream);
    bad[bad.length - 20] ^= 0xff;
    const t = new ConverseStreamTranslator(ctx);
    const events = sseEvents(t.push(bad) + t.end());
    expect(events[events.length - 1]).toMatchObject({ error: { code: 'upstream_stream_invalid' } });
  });

  test('a stream cut mid-frame ends with an error event', () => {
    const t = new ConverseStreamTranslator(ctx);
    const events = sseEvents(t.push(stream.subarray(0, stream.length - 5)) + t.end());
    expect(events[events.length - 1]).toMatchObject({ error: { code: 'upstream_stream_incomplete' } });
  });
});
