/**
 * Two replicas of the model router as two `agentway router` processes, both on the real control plane and on
 * one real Redis (DESIGN §9): concurrent requests spread over both never pass a token limit together, and an
 * answer cached by one replica is replayed, byte for byte and without calling the provider, by the other.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { CliProcess, startCli } from '../env/cli-process.js';
import { Scenarios, testClient } from '../env/controller.js';
import { KUBECONFIG_ENV, eventually } from '../env/kube.js';
import { TestObjects, pathOf } from '../env/objects.js';
import { TestRedis, startRedis } from '../env/redis.js';
import { FakeServer } from '../fakes/fake-server.js';
import { startFakeOpenAI } from '../fakes/openai.js';

const T = 90_000;
const KEY = 'sk-replicas-0123456789';
const LIMITED_KEY = 'sk-replicas-limited-4567';
const PROVIDER_KEY = 'sk-openai-replicas-999';

interface Replica { readonly process: CliProcess; readonly base: string }

const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
let redis: TestRedis;
let openai: FakeServer;
const replicas: Replica[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
  });
}

async function startReplica(): Promise<Replica> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const cli = await startCli(['router', '--kubeconfig', process.env[KUBECONFIG_ENV]!, '--namespace', ns, '--host', '127.0.0.1',
    '--port', String(port), '--metrics-port', String(metricsPort), '--redis-url', redis.url], { startedMessage: 'model router started' });
  const r: Replica = { process: cli, base: `http://127.0.0.1:${port}` };
  replicas.push(r);
  return r;
}

interface Answer { readonly status: number; readonly headers: Headers; readonly text: string }

async function post(r: Replica, body: Record<string, unknown>, key = KEY): Promise<Answer> {
  const res = await fetch(`${r.base}/v1/chat/completions`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'chat', messages: [{ role: 'user', content }], max_tokens: 50, ...extra });

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await scenarios.namespace('router-replicas');
  [redis, openai] = await Promise.all([startRedis(), startFakeOpenAI({ apiKey: PROVIDER_KEY })]);
  const secret = (name: string, data: Record<string, string>) => kube.request('POST', pathOf('Secret', ns), {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
  });
  await secret('openai', { apiKey: PROVIDER_KEY });
  await secret('team-keys', { app: KEY });
  await secret('limited-keys', { batch: LIMITED_KEY });
  await objects.create(ns, 'ModelAPI', 'gpt', {
    models: ['chat'], dataClass: 'internal', provider: { type: 'openai', url: `${openai.origin}/v1`, model: 'gpt-4o-mini', credentialsSecretRef: { name: 'openai', key: 'apiKey' } },
  });
  await objects.create(ns, 'ModelAccess', 'team', { apiKeys: { secretRef: { name: 'team-keys' } } });
  // Used by the limit test alone, so that nothing else has spent its tokens.
  await objects.create(ns, 'ModelAccess', 'limited', { apiKeys: { secretRef: { name: 'limited-keys' } }, limits: { tokensPerMinute: 1000 } });
  await Promise.all([startReplica(), startReplica()]);
  // Both up, routing, and knowing both keys. Each replica's first success with the limited key ends its wait,
  // so those two requests (settled on the fake's usage, 15 tokens each) are all the limited client spent.
  for (const r of replicas) {
    await eventually(async () => expect((await post(r, chat('ready?', { temperature: 0.7 }))).status).toBe(200), { timeoutMs: T });
    await eventually(async () => expect((await post(r, chat('ready?', { max_tokens: 1, temperature: 0.7 }), LIMITED_KEY)).status).toBe(200), { timeoutMs: T });
  }
}, 3 * T);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.process.stop()));
  await openai?.close();
  await redis?.stop();
  await scenarios.deleteNamespaces();
  kube.close();
});

test('an answer cached by one replica is replayed by the other with identical bytes and no provider call', async () => {
  const body = chat(`cache across replicas ${Date.now()}`, { temperature: 0 });
  const first = await post(replicas[0], body);
  expect([first.status, first.headers.get('x-agentway-cache')]).toEqual([200, 'miss']);
  const calls = openai.requests.length;
  // The first replica stores the answer after it has gone out: wait for the other to find it.
  const second = await eventually(async () => {
    const a = await post(replicas[1], body);
    expect(a.headers.get('x-agentway-cache')).toBe('hit');
    return a;
  }, { timeoutMs: T });
  expect(second.text).toBe(first.text);
  expect(openai.requests.length).toBe(calls);
}, T);

test('requests spread over both replicas never pass the token limit together', async () => {
  // Each request reserves its max_tokens (300) plus its prompt (~20 tokens): three fit in 1,000 tokens, a fourth
  // cannot. The provider holds every answer, so all twelve are in flight at once, six on each replica.
  openai.behave({ delayMs: 1000 });
  try {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => post(replicas[i % 2], chat(`p${i}`, { max_tokens: 300, temperature: 0.7 }), LIMITED_KEY)));
    const ok = results.map((r, i) => ({ replica: i % 2, status: r.status, code: r.status === 429 ? JSON.parse(r.text).error.code : undefined }));
    expect(ok.filter((r) => r.status === 200)).toHaveLength(3);
    expect(ok.filter((r) => r.status !== 200).every((r) => r.status === 429 && r.code === 'token_limit_exceeded')).toBe(true);
  } finally {
    openai.behave({});
  }
}, T);
