/**
 * Provider adapters against fake providers on loopback that check what the real ones check: the requests the
 * adapters prepare are accepted, and the same requests without credentials, with the wrong signature or in
 * OpenAI's shape are refused — so the fakes can fail, and the adapters pass them.
 */
import { providerAdapter, ProviderTarget, ResponseContext, UpstreamRequest } from '../../controller/router/providers/index.js';
import { startFakeAnthropic } from '../fakes/anthropic.js';
import { decodeEventStream, startFakeBedrock } from '../fakes/bedrock.js';
import { FakeServer } from '../fakes/fake-server.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { send } from '../fakes/send.js';

const ctx: ResponseContext = { model: 'chat', created: 1700000000, requestId: 'req-1' };
const body = (extra: Record<string, unknown> = {}) => ({ model: 'chat', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 20, ...extra });
const json = (b: Buffer) => JSON.parse(b.toString('utf8'));
const dataEvents = (b: Buffer) => b.toString('utf8').split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));

let openai: FakeServer;
let anthropic: FakeServer;
let bedrock: FakeServer;
const creds = { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake-secret-key' };

beforeAll(async () => {
  [openai, anthropic, bedrock] = await Promise.all([
    startFakeOpenAI({ apiKey: 'sk-openai' }),
    startFakeAnthropic('sk-ant'),
    startFakeBedrock({ region: 'us-west-2', credentials: creds }),
  ]);
});
afterAll(async () => { await Promise.all([openai.close(), anthropic.close(), bedrock.close()]); });
beforeEach(() => { for (const f of [openai, anthropic, bedrock]) f.behave({}); });

describe('OpenAI fake and pass-through', () => {
  const target = (): ProviderTarget => ({ type: 'openai', url: `${openai.origin}/v1`, model: 'gpt-4o-mini', credential: 'sk-openai' });

  test('the prepared request is answered; the provider model id is what the fake saw', async () => {
    const res = await send(await providerAdapter(target()).prepare('/chat/completions', body(), new Date()));
    expect(res.status).toBe(200);
    expect(json(res.body).model).toBe('gpt-4o-mini');
  });

  test('the fake refuses a wrong key', async () => {
    const res = await send(await providerAdapter({ ...target(), credential: 'sk-wrong' }).prepare('/chat/completions', body(), new Date()));
    expect(res.status).toBe(401);
  });
});

describe('Anthropic fake and adapter', () => {
  const target = (credential = 'sk-ant'): ProviderTarget => ({ type: 'anthropic', url: anthropic.origin, model: 'claude-3-5-haiku-latest', credential });

  test('a translated request is answered and translated back to a chat.completion', async () => {
    const a = providerAdapter(target());
    const res = await send(await a.prepare('/chat/completions', body(), new Date()));
    expect(res.status).toBe(200);
    const out = json(a.translateResponse(res.body, ctx)!);
    expect(out).toMatchObject({ object: 'chat.completion', model: 'chat', choices: [{ message: { role: 'assistant', content: 'Hello from the fake Anthropic.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 7 } });
    expect(json(anthropic.requests.at(-1)!.body)).toMatchObject({ model: 'claude-3-5-haiku-latest', system: 'Be brief.', max_tokens: 20 });
  });

  test('streaming: Anthropic events arrive as OpenAI chunks with usage last', async () => {
    const a = providerAdapter(target());
    const res = await send(await a.prepare('/chat/completions', body({ stream: true, stream_options: { include_usage: true } }), new Date()));
    expect(res.status).toBe(200);
    const t = a.streamTranslator(ctx)!;
    const text = res.chunks.map((c) => t.push(c)).join('') + t.end();
    const events = dataEvents(Buffer.from(text));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Hello from the fake Anthropic.');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 } });
    expect(t.usage()).toEqual({ promptTokens: 12, completionTokens: 7, cachedTokens: 0 });
  });

  test('the fake refuses a wrong key, a missing anthropic-version, and an OpenAI-shaped body', async () => {
    const good = await providerAdapter(target()).prepare('/chat/completions', body(), new Date());
    expect((await send(await providerAdapter(target('sk-wrong')).prepare('/chat/completions', body(), new Date()))).status).toBe(401);
    const { 'anthropic-version': _v, ...noVersion } = good.headers;
    expect((await send({ ...good, headers: noVersion })).status).toBe(400);
    const openAIShaped = Buffer.from(JSON.stringify(body()));
    const res = await send({ ...good, body: openAIShaped, headers: { ...good.headers, 'content-length': String(openAIShaped.length) } });
    expect(res.status).toBe(400);
    expect(json(res.body).error.message).toMatch(/role/);
  });

  test('a provider error is translated to an OpenAI error body', async () => {
    anthropic.behave({ failWith: 529 });
    const a = providerAdapter(target());
    const res = await send(await a.prepare('/chat/completions', body(), new Date()));
    expect(res.status).toBe(529);
    expect(json(a.translateError(res.status, res.body)!)).toEqual({ error: { message: 'fake failure 529', type: 'api_error', code: 'overloaded_error' } });
  });
});

describe('Bedrock fake and adapter', () => {
  const target = (credential = `${creds.accessKeyId}:${creds.secretAccessKey}`, region = 'us-west-2'): ProviderTarget =>
    ({ type: 'bedrock', url: bedrock.origin, region, model: 'anthropic.claude-3-haiku-20240307-v1:0', credential });

  test('a signed Converse request is answered and translated back', async () => {
    const a = providerAdapter(target());
    const res = await send(await a.prepare('/chat/completions', body(), new Date()));
    expect(res.status).toBe(200);
    expect(json(a.translateResponse(res.body, ctx)!)).toMatchObject({ choices: [{ message: { content: 'Hello from the fake Bedrock.' } }], usage: { prompt_tokens: 11, completion_tokens: 6 } });
    expect(bedrock.requests.at(-1)!.path).toBe('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
  });

  test('the fake verifies the signature: wrong secret, other region, altered body → 403', async () => {
    expect((await send(await providerAdapter(target('AKIDFAKE:other-secret')).prepare('/chat/completions', body(), new Date()))).status).toBe(403);
    expect((await send(await providerAdapter(target(undefined, 'eu-central-1')).prepare('/chat/completions', body(), new Date()))).status).toBe(403);
    const good = await providerAdapter(target()).prepare('/chat/completions', body(), new Date());
    const altered = Buffer.from(good.body.toString().replace('Hi', 'Ho'));
    expect((await send({ ...good, body: altered })).status).toBe(403);
  });

  test('the fake refuses an OpenAI-shaped body even when it is correctly signed', async () => {
    const { bedrockSigner } = await import('../../controller/router/providers/bedrock.js');
    const raw = Buffer.from(JSON.stringify(body()));
    const url = new URL(`${bedrock.origin}/model/m/converse`);
    const headers = { 'content-type': 'application/json', 'content-length': String(raw.length), host: url.host };
    const signed = await bedrockSigner('us-west-2', creds).sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers, body: raw.toString() });
    const res = await send({ method: 'POST', url: url.toString(), headers: signed.headers as Record<string, string>, body: raw });
    expect(res.status).toBe(400);
    expect(json(res.body).message).toMatch(/extraneous key \[model\]/);
  });

  test('converse-stream: the binary event stream arrives as OpenAI chunks with usage last', async () => {
    const a = providerAdapter(target());
    const res = await send(await a.prepare('/chat/completions', body({ stream: true }), new Date()));
    expect(res.status).toBe(200);
    expect(decodeEventStream(res.body).map((e) => e.type)).toContain('metadata');
    const t = a.streamTranslator(ctx)!;
    const events = dataEvents(Buffer.from(res.chunks.map((c) => t.push(c)).join('') + t.end()));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Hello from the fake Bedrock.');
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 11, completion_tokens: 6, total_tokens: 17, prompt_tokens_details: { cached_tokens: 0 } });
  });
});

describe('Bedrock throttling inside the stream', () => {
  test('a throttlingException frame becomes an OpenAI rate-limit error event', async () => {
    const throttling = await startFakeBedrock({ region: 'us-west-2', credentials: creds, throttleInStream: true });
    try {
      const a = providerAdapter({ type: 'bedrock', url: throttling.origin, region: 'us-west-2', model: 'm', credential: 'AKIDFAKE:fake-secret-key' });
      const req: UpstreamRequest = await a.prepare('/chat/completions', body({ stream: true }), new Date());
      const res = await send(req);
      const t = a.streamTranslator(ctx)!;
      const events = dataEvents(Buffer.from(res.chunks.map((c) => t.push(c)).join('') + t.end()));
      expect(events.map((e) => JSON.parse(e))).toEqual([{ error: { message: 'Too many requests, please wait before trying again.', type: 'rate_limit_error', code: 'throttlingException' } }]);
    } finally {
      await throttling.close();
    }
  });
});
