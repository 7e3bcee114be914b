/**
 * Providers and policy through the model router, against the real control plane (DESIGN §9): ModelAccess
 * keys and classes, provider ModelAPIs answered by fake OpenAI, Anthropic and Bedrock servers that check
 * what the real ones check, a private in-cluster model, ModelRoutes with cheapest and priority strategies,
 * the cache and limits kept in a real Redis, the audit lines — and no key or credential anywhere a person or a
 * scraper can read. Two router processes sharing that Redis are in router-replicas.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AddressInfo, createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { Router } from '../../controller/router/server.js';
import { Scenarios, testClient } from '../env/controller.js';
import { eventually, kubeConfig, markPodsReady } from '../env/kube.js';
import { TestObjects, pathOf } from '../env/objects.js';
import { TestRedis, startRedis } from '../env/redis.js';
import { startFakeAnthropic } from '../fakes/anthropic.js';
import { startFakeBedrock } from '../fakes/bedrock.js';
import { FakeServer } from '../fakes/fake-server.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { FakeModelServer, Json, fakeModelServer } from './router-fakes.js';

const T = 90_000;
const KEYS = { web: 'sk-web-a1b2c3d4e5f6', secure: 'sk-secure-f6e5d4c3b2a1', limited: 'sk-limited-0000111122', shared: 'sk-shared-9999888877', pub: 'sk-public-5555444433', metered: 'sk-metered-7777666655' };
const CREDS = { openai: 'sk-openai-provider-key-123', anthropic: 'sk-ant-provider-key-456', aws: 'AKIDTESTKEY:aws-secret-access-key-789' };
const SECRETS = [...Object.values(KEYS), ...Object.values(CREDS), 'aws-secret-access-key-789', 'sk-ant-revoked-000'];

class Capture extends Writable {
  public text = '';
  public override _write(chunk: Buffer, _e: string, cb: () => void): void { this.text += chunk.toString(); cb(); }
  public get audit(): Json[] { return this.text.split('\n').filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l)); }
}

const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
let redis: TestRedis;
const routers: Router[] = [];
const logs = new Capture();
const audits = [new Capture(), new Capture()];
let openai: FakeServer;
let anthropic: FakeServer;
let flaky: FakeServer;
let bedrock: FakeServer;
let vllm: FakeModelServer;
let bases: string[] = [];
let deadPort = 0;

/** A loopback port nothing listens on: connections to it are refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
  });
}

async function startRouter(i: number): Promise<Router> {
  const router = new Router({
    client: new KubeClient(kubeConfig()), log: pino({ level: 'debug' }, logs), namespace: ns, port: 0, host: '127.0.0.1', metricsPort: 0,
    redisUrl: redis.url, auditStream: audits[i],
  });
  routers.push(router);
  await router.start();
  return router;
}

async function secret(name: string, data: Record<string, string>): Promise<void> {
  await kube.request('POST', pathOf('Secret', ns), {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
  });
}

interface Answer { status: number; headers: Headers; text: string; json: Json }

async function post(key: string | undefined, body: Json, headers: Record<string, string> = {}, router = 0): Promise<Answer> {
  const audited = audits[router].audit.length;
  const res = await fetch(`${bases[router]}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
  });
  const text = await res.text();
  let json: Json = {};
  try { json = JSON.parse(text); } catch { /* SSE */ }
  // The router writes a request's audit line once the answer has gone out, which can be after the client has
  // read it: wait for the line, so that lastAudit() is this request's.
  for (let waited = 0; audits[router].audit.length === audited && waited < 2_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  return { status: res.status, headers: res.headers, text, json };
}

const chat = (model: string, extra: Json = {}) => ({ model, messages: [{ role: 'user', content: 'What does the contract say?' }], max_tokens: 50, ...extra });
const sseData = (text: string) => text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
const lastAudit = (i = 0) => audits[i].audit.at(-1)!;

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await scenarios.namespace('policy');
  redis = await startRedis();
  deadPort = await closedPort();
  [openai, anthropic, flaky, bedrock, vllm] = await Promise.all([
    startFakeOpenAI({ apiKey: CREDS.openai }), startFakeAnthropic(CREDS.anthropic), startFakeAnthropic(CREDS.anthropic),
    startFakeBedrock({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTESTKEY', secretAccessKey: 'aws-secret-access-key-789' } }),
    fakeModelServer('private', ['chat', 'summarize', 'mixed'], 'vllm'),
  ]);
  await scenarios.run(ns);
  await secret('openai', { apiKey: CREDS.openai });
  await secret('anthropic', { apiKey: CREDS.anthropic });
  await secret('aws', { credentials: CREDS.aws });
  await secret('app-keys', { web: KEYS.web });
  await secret('secure-keys', { batch: KEYS.secure });
  await secret('limited-keys', { bot: KEYS.limited });
  await secret('shared-keys', { replica: KEYS.shared });
  await secret('public-keys', { site: KEYS.pub });
  await secret('metered-keys', { bot: KEYS.metered });
  const cred = (name: string, key: string) => ({ credentialsSecretRef: { name, key } });
  await objects.create(ns, 'ModelAPI', 'gpt', {
    models: ['chat', 'summarize', 'retry-chat', 'mixed'], provider: { type: 'openai', url: `${openai.origin}/v1`, model: 'gpt-4o-mini', ...cred('openai', 'apiKey') },
    pricing: { inputPer1M: 0.15, outputPer1M: 0.6 },
  });
  await objects.create(ns, 'ModelAPI', 'claude', {
    models: ['chat', 'fallback'], dataClass: 'internal', provider: { type: 'anthropic', url: anthropic.origin, model: 'claude-3-5-haiku-latest', ...cred('anthropic', 'apiKey') },
    pricing: { inputPer1M: 0.8, outputPer1M: 4 },
  });
  await objects.create(ns, 'ModelAPI', 'claude-flaky', {
    models: ['fallback'], dataClass: 'internal', provider: { type: 'anthropic', url: flaky.origin, model: 'claude-3-5-haiku-latest', ...cred('anthropic', 'apiKey') },
  });
  await objects.create(ns, 'ModelAPI', 'titan', {
    models: ['bedrock-chat'], dataClass: 'internal', provider: { type: 'bedrock', url: bedrock.origin, region: 'us-east-1', model: 'amazon.nova-lite-v1:0', ...cred('aws', 'credentials') },
  });
  await objects.create(ns, 'ModelAPI', 'private', { image: 'vllm/vllm-openai:v0.6.3', port: vllm.port, models: ['chat', 'summarize', 'mixed'], ownedBy: 'vllm', pricing: { inputPer1M: 5, outputPer1M: 20 } });
  // A private model whose only endpoint refuses connections, and a public provider behind it.
  await objects.create(ns, 'ModelAPI', 'dead-private', { image: 'vllm/vllm-openai:v0.6.3', port: deadPort, models: ['retry-chat'] });
  await objects.create(ns, 'ModelRoute', 'retry', {
    model: 'retry-chat', strategy: 'priority', targets: [{ modelAPI: 'dead-private', priority: 0 }, { modelAPI: 'gpt', priority: 1 }],
  });
  await objects.create(ns, 'ModelRoute', 'chat', { model: 'chat', strategy: 'cheapest', targets: [{ modelAPI: 'gpt' }, { modelAPI: 'claude' }, { modelAPI: 'private' }] });
  await objects.create(ns, 'ModelRoute', 'public-only', { model: 'summarize', strategy: 'cheapest', targets: [{ modelAPI: 'gpt' }] });
  await objects.create(ns, 'ModelRoute', 'fallback', {
    model: 'fallback', strategy: 'priority', targets: [{ modelAPI: 'claude-flaky', priority: 0 }, { modelAPI: 'claude', priority: 1 }],
  });
  await objects.create(ns, 'ModelAccess', 'apps', { apiKeys: { secretRef: { name: 'app-keys' } }, dataClass: 'internal' });
  await objects.create(ns, 'ModelAccess', 'secure', { apiKeys: { secretRef: { name: 'secure-keys' } }, dataClass: 'restricted', models: ['chat', 'summarize', 'retry-chat'] });
  await objects.create(ns, 'ModelAccess', 'limited', { apiKeys: { secretRef: { name: 'limited-keys' } }, limits: { requestsPerMinute: 3 } });
  await objects.create(ns, 'ModelAccess', 'shared', { apiKeys: { secretRef: { name: 'shared-keys' } }, limits: { tokensPerMinute: 1000 } });
  await objects.create(ns, 'ModelAccess', 'public', { apiKeys: { secretRef: { name: 'public-keys' } }, dataClass: 'public' });
  await objects.create(ns, 'ModelAccess', 'metered', { apiKeys: { secretRef: { name: 'metered-keys' } }, limits: { requestsPerMinute: 3, tokensPerMinute: 10 } });
  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-private' }, '127.0.0.1'), { timeoutMs: T });
  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-dead-private' }, '127.0.0.1'), { timeoutMs: T });
  const rs = [await startRouter(0), await startRouter(1)];
  bases = rs.map((r) => `http://127.0.0.1:${r.port}`);
  await eventually(async () => {
    for (const b of [0, 1]) expect((await post(KEYS.secure, chat('chat'), {}, b)).status).toBe(200);
    expect((await post(KEYS.web, chat('bedrock-chat'))).status).toBe(200);
  }, { timeoutMs: T });
}, 4 * T);

afterAll(async () => {
  await Promise.all(routers.map((r) => r.stop()));
  await scenarios.stopAll();
  await Promise.all([openai, anthropic, flaky, bedrock, vllm].filter(Boolean).map((f) => f.close()));
  await redis?.stop();
  await scenarios.deleteNamespaces();
  kube.close();
});

test('the controller renders, for each ModelAccess, the router\'s read access to its key Secret and nothing more', async () => {
  const role = await eventually(() => objects.mustGet('Role', ns, 'modelaccess-apps-api-keys'), { timeoutMs: T });
  expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['app-keys'], verbs: ['get', 'list', 'watch'] }]);
  expect(role.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ModelAccess', name: 'apps', controller: true })]);
  const binding = await objects.mustGet('RoleBinding', ns, 'modelaccess-apps-api-keys');
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'agentway-router', namespace: expect.any(String) }]);
});

describe('keys', () => {
  test('401 without a key and with an unknown one; 403 for a model outside the allow-list', async () => {
    expect((await post(undefined, chat('chat'))).json.error.code).toBe('missing_api_key');
    const unknown = await post('sk-not-a-key', chat('chat'));
    expect([unknown.status, unknown.json.error.code]).toEqual([401, 'invalid_api_key']);
    const notAllowed = await post(KEYS.secure, chat('bedrock-chat'));
    expect([notAllowed.status, notAllowed.json.error.code]).toEqual([403, 'model_not_allowed']);
  });

});

describe('compliance', () => {
  test('a restricted request with only a public provider → 403 data_class_not_allowed, audited "denied"', async () => {
    const r = await post(KEYS.secure, chat('summarize'));
    expect([r.status, r.json.error.code]).toEqual([403, 'data_class_not_allowed']);
    expect(lastAudit()).toMatchObject({ decision: 'denied', reason: 'data_class_not_allowed', client: `${ns}/secure/batch`, dataClass: 'restricted', status: 403 });
  });

  test('a restricted request goes to the private model though the providers are cheaper', async () => {
    const r = await post(KEYS.secure, chat('chat'));
    expect([r.status, r.headers.get('x-agentway-backend')]).toEqual([200, `${ns}/private`]);
    expect(lastAudit()).toMatchObject({ decision: 'routed', target: `${ns}/private`, provider: 'in-cluster', dataClass: 'restricted' });
  });

  test('an internal client goes to the cheapest eligible target; the header raises its class', async () => {
    expect((await post(KEYS.web, chat('chat'))).headers.get('x-agentway-backend')).toBe(`${ns}/claude`);
    expect((await post(KEYS.web, chat('chat'), { 'x-agentway-data-class': 'restricted' })).headers.get('x-agentway-backend')).toBe(`${ns}/private`);
    expect((await post(KEYS.web, chat('chat'), { 'x-agentway-data-class': 'public' })).headers.get('x-agentway-backend')).toBe(`${ns}/claude`);
  });
});

describe('providers', () => {
  test('Anthropic answers an OpenAI chat request, translated both ways, with cost in the audit line', async () => {
    const r = await post(KEYS.web, chat('chat'));
    expect(r.json).toMatchObject({ object: 'chat.completion', model: 'chat', choices: [{ message: { role: 'assistant', content: 'Hello from the fake Anthropic.' } }], usage: { prompt_tokens: 12, completion_tokens: 7 } });
    expect(lastAudit()).toMatchObject({ provider: 'anthropic', tokens: { prompt: 12, completion: 7, cached: 0 }, costUsd: (12 * 0.8 + 7 * 4) / 1e6 });
  });

  test('Anthropic streaming arrives as chat.completion.chunk events; usage only when asked', async () => {
    const plain = await post(KEYS.web, chat('chat', { stream: true }));
    const events = sseData(plain.text);
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('')).toBe('Hello from the fake Anthropic.');
    expect(events.some((e) => e.includes('"usage"'))).toBe(false);
    expect(lastAudit()).toMatchObject({ tokens: { prompt: 12, completion: 7 } });
    const withUsage = await post(KEYS.web, chat('chat', { stream: true, stream_options: { include_usage: true } }));
    expect(JSON.parse(sseData(withUsage.text).at(-2)!).usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 7 });
  });

  test('Bedrock Converse, signed with SigV4, plain and streamed', async () => {
    const r = await post(KEYS.web, chat('bedrock-chat'));
    expect(r.json.choices[0].message.content).toBe('Hello from the fake Bedrock.');
    expect(bedrock.requests.at(-1)!.path).toBe('/model/amazon.nova-lite-v1%3A0/converse');
    const s = await post(KEYS.web, chat('bedrock-chat', { stream: true }));
    expect(sseData(s.text).slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('')).toBe('Hello from the fake Bedrock.');
    expect(lastAudit()).toMatchObject({ provider: 'bedrock', tokens: { prompt: 11, completion: 6 } });
  });

  test('OpenAI: a public client goes to the cheapest provider, with the provider model id and key', async () => {
    const r = await post(KEYS.pub, chat('chat'));
    expect([r.status, r.headers.get('x-agentway-backend')]).toEqual([200, `${ns}/gpt`]);
    expect(JSON.parse(openai.requests.at(-1)!.body.toString()).model).toBe('gpt-4o-mini');
    expect(lastAudit()).toMatchObject({ provider: 'openai', tokens: { prompt: 10, completion: 5 }, costUsd: (10 * 0.15 + 5 * 0.6) / 1e6 });
  });

  test('OpenAI streaming: usage is read from the stream, and the usage chunk reaches only a client that asked', async () => {
    const plain = await post(KEYS.pub, chat('chat', { stream: true }));
    expect(JSON.parse(openai.requests.at(-1)!.body.toString()).stream_options).toEqual({ include_usage: true });
    expect(sseData(plain.text).some((e) => e.includes('"usage"'))).toBe(false);
    expect(lastAudit()).toMatchObject({ tokens: { prompt: 10, completion: 5 } });
    const asked = await post(KEYS.pub, chat('chat', { stream: true, stream_options: { include_usage: true } }));
    expect(sseData(asked.text).some((e) => e.includes('"usage"'))).toBe(true);
  });

  test('a provider refusing its credential is a 502 that quotes nothing of the provider\'s answer', async () => {
    await kube.request('PATCH', `${pathOf('Secret', ns)}/anthropic`, {
      body: { data: { apiKey: Buffer.from('sk-ant-revoked-000').toString('base64') } }, contentType: 'application/merge-patch+json',
    });
    try {
      const r = await eventually(async () => {
        const res = await post(KEYS.web, chat('chat', { messages: [{ role: 'user', content: `auth ${Date.now()}` }] }));
        expect(res.status).toBe(502);
        return res;
      }, { timeoutMs: T });
      expect(r.json.error).toEqual({ message: `${ns}/claude refused the credentials configured for it (401).`, type: 'server_error', param: null, code: 'provider_auth_failed' });
      expect(lastAudit()).toMatchObject({ decision: 'failed', reason: 'provider_auth_failed', target: `${ns}/claude` });
    } finally {
      await kube.request('PATCH', `${pathOf('Secret', ns)}/anthropic`, {
        body: { data: { apiKey: Buffer.from(CREDS.anthropic).toString('base64') } }, contentType: 'application/merge-patch+json',
      });
      await eventually(async () => expect((await post(KEYS.web, chat('chat'))).status).toBe(200), { timeoutMs: T });
    }
  });

  test('without a ModelRoute (capacity), an in-cluster endpoint with room is chosen before a provider', async () => {
    for (let i = 0; i < 3; i++) expect((await post(KEYS.pub, chat('mixed'))).headers.get('x-agentway-backend')).toBe(`${ns}/private`);
  });

  test('no provider ever sees a client key', async () => {
    const headers = JSON.stringify([openai, anthropic, flaky, bedrock].flatMap((f) => f.requests.map((r) => r.headers)));
    for (const key of Object.values(KEYS)) expect(headers).not.toContain(key);
  });
});

describe('fallback', () => {
  test('a 503 from the first priority falls back to the next', async () => {
    flaky.behave({ failWith: 503 });
    const before = flaky.requests.length;
    const r = await post(KEYS.web, chat('fallback'));
    expect([r.status, r.headers.get('x-agentway-backend')]).toEqual([200, `${ns}/claude`]);
    expect(flaky.requests.length).toBe(before + 1);
    expect(lastAudit()).toMatchObject({ decision: 'routed', target: `${ns}/claude`, fallbacks: [`${ns}/claude-flaky`] });
    flaky.behave({});
  });

  test('a refused connection falls back only within the class: restricted → 502, public → the provider', async () => {
    const before = openai.requests.length;
    const restricted = await post(KEYS.secure, chat('retry-chat'));
    expect([restricted.status, restricted.json.error.code]).toEqual([502, 'upstream_unavailable']);
    expect(openai.requests.length).toBe(before);
    expect(lastAudit()).toMatchObject({ decision: 'failed', status: 502, dataClass: 'restricted' });
    const open = await post(KEYS.pub, chat('retry-chat'));
    expect([open.status, open.headers.get('x-agentway-backend')]).toEqual([200, `${ns}/gpt`]);
    expect(lastAudit()).toMatchObject({ decision: 'routed', target: `${ns}/gpt`, fallbacks: [`${ns}/dead-private`] });
  });

  test('no fallback once the first streamed byte went to the client', async () => {
    flaky.behave({ cutAfterFirstEvent: true });
    const before = anthropic.requests.length;
    const r = await post(KEYS.web, chat('fallback', { stream: true })).catch((err: Error) => ({ status: -1, text: err.message, headers: new Headers(), json: {} }));
    expect(r.text).not.toContain('[DONE]');
    expect(anthropic.requests.length).toBe(before);
    flaky.behave({});
  });
});

describe('cache', () => {
  test('a repeated temperature-0 request is answered from the cache with identical bytes and no provider call', async () => {
    const body = chat('chat', { temperature: 0, messages: [{ role: 'user', content: `cache me ${Date.now()}` }] });
    const first = await post(KEYS.web, body);
    const calls = anthropic.requests.length;
    const second = await post(KEYS.web, body);
    expect([first.headers.get('x-agentway-cache'), second.headers.get('x-agentway-cache')]).toEqual(['miss', 'hit']);
    expect(second.text).toBe(first.text);
    expect(anthropic.requests.length).toBe(calls);
    expect(lastAudit()).toMatchObject({ decision: 'cached', target: `${ns}/claude` });
    // Another ModelAccess never shares it (replicas do: router-replicas.test.ts).
    expect((await post(KEYS.pub, body)).headers.get('x-agentway-cache')).toBe('miss');
  });

  test('streaming requests are never cached', async () => {
    const body = chat('chat', { temperature: 0, stream: true, messages: [{ role: 'user', content: `stream ${Date.now()}` }] });
    await post(KEYS.web, body);
    expect((await post(KEYS.web, body)).headers.get('x-agentway-cache')).toBeNull();
  });
});

describe('limits', () => {
  test('over the requests-per-minute limit → 429 with Retry-After, audited "limited"', async () => {
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 4; i++) { last = await post(KEYS.limited, chat('chat', { messages: [{ role: 'user', content: `n${i}` }] })); statuses.push(last.status); }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(lastAudit()).toMatchObject({ decision: 'limited', status: 429, client: `${ns}/limited/bot` });
  });

  test('a cached answer reserves no tokens: at its token limit a client still gets it; at its request limit, 429', async () => {
    const body = chat('chat', { temperature: 0, max_tokens: 1, messages: [{ role: 'user', content: `metered ${Date.now()}` }] });
    // Request 1: the provider reports 19 tokens used, more than the 10 a minute allowed.
    expect((await post(KEYS.metered, body)).headers.get('x-agentway-cache')).toBe('miss');
    const uncached = await post(KEYS.metered, chat('chat', { max_tokens: 1 }));
    expect([uncached.status, uncached.json.error?.code]).toEqual([429, 'token_limit_exceeded']);
    const hits = [await post(KEYS.metered, body), await post(KEYS.metered, body)]; // requests 2 and 3
    expect(hits.map((h) => [h.status, h.headers.get('x-agentway-cache')])).toEqual([[200, 'hit'], [200, 'hit']]);
    expect(lastAudit()).toMatchObject({ decision: 'cached', client: `${ns}/metered/bot` });
    const limited = await post(KEYS.metered, body); // request 4
    expect([limited.status, limited.json.error?.code]).toEqual([429, 'rate_limit_exceeded']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(lastAudit()).toMatchObject({ decision: 'limited', status: 429, client: `${ns}/metered/bot` });
  });
});

test('keys and credentials appear in no log line, audit line, metric, status or error body', async () => {
  const texts = [logs.text, audits[0].text, audits[1].text];
  for (const r of routers) texts.push(await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text());
  for (const name of ['gpt', 'claude', 'titan', 'private']) texts.push(JSON.stringify((await objects.mustGet('ModelAPI', ns, name)).status ?? {}));
  for (const key of ['sk-wrong-key-000', ...Object.values(KEYS)]) texts.push((await post(key, chat('bedrock-chat', { messages: 5 }))).text);
  const all = texts.join('\n');
  expect(all).toContain(`${ns}/apps/web`);
  for (const secretValue of [...SECRETS, 'sk-wrong-key-000']) expect(all).not.toContain(secretValue);
});
