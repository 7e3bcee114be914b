/**
 * Model discovery: the controller asks each ModelAPI's servers for GET /v1/models — pods of its pools, or
 * the EndpointSlices of the Services its backend selects — when `agentway.dev/discover-at` changes, writes
 * status.discoveredModels, and the router then serves those models.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { Router } from '../../controller/router/server.js';
import { Scenarios, testClient } from '../env/controller.js';
import { eventually, kubeConfig, markPodsReady } from '../env/kube.js';
import { TestObjects, pathOf } from '../env/objects.js';
import { FakeModelServer, Json, fakeModelServer } from './router-fakes.js';

const T = 90_000;
const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
let router: Router;
const fakes: FakeModelServer[] = [];

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await scenarios.namespace('router-discovery');
  await scenarios.run(ns);
  router = new Router({ client: new KubeClient(kubeConfig()), log: pino({ level: 'silent' }), namespace: ns, port: 0, host: '127.0.0.1' });
  await router.start();
}, T);

afterAll(async () => {
  await router.stop();
  await scenarios.stopAll();
  await Promise.all(fakes.map((f) => f.close()));
  await scenarios.deleteNamespaces();
  kube.close();
});

const discoverNow = (name: string) => kube.request('PATCH', pathOf('ModelAPI', ns, name), {
  body: { metadata: { annotations: { 'agentway.dev/discover-at': new Date().toISOString() } } }, contentType: 'application/merge-patch+json',
});

async function models(): Promise<string[]> {
  const body = await (await fetch(`http://127.0.0.1:${router.port}/v1/models`)).json() as Json;
  return body.data.map((m: Json) => `${m.id} ${m.owned_by}`);
}

test('models a server lists become status.discoveredModels and are routed', async () => {
  const fake = await fakeModelServer('sglang', ['qwen3-8b', 'qwen3-0.6b'], 'sglang');
  fakes.push(fake);
  await objects.create(ns, 'ModelAPI', 'qwen', { image: 'lmsysorg/sglang:v0.4.6', port: fake.port });
  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-qwen' }, '127.0.0.1'), { timeoutMs: T });
  await discoverNow('qwen');
  await eventually(async () => {
    expect((await objects.mustGet('ModelAPI', ns, 'qwen')).status?.discoveredModels).toEqual([
      { id: 'qwen3-0.6b', ownedBy: 'sglang' }, { id: 'qwen3-8b', ownedBy: 'sglang' },
    ]);
  }, { timeoutMs: T });
  await eventually(async () => expect(await models()).toEqual(['qwen3-0.6b sglang', 'qwen3-8b sglang']));
  const res = await fetch(`http://127.0.0.1:${router.port}/v1/chat/completions?owned_by=sglang`, {
    method: 'POST', body: JSON.stringify({ model: 'qwen3-8b', messages: [] }),
  });
  expect([res.status, res.headers.get('x-agentway-backend')]).toEqual([200, `${ns}/qwen`]);
}, T);

test('a backend agentway does not run is discovered through the Service its selector matches', async () => {
  const fake = await fakeModelServer('decode', ['meta-llama/Llama-3.1-8B-Instruct'], 'vllm');
  fakes.push(fake);
  await objects.create(ns, 'ModelAPI', 'decode', { backend: { selector: { matchLabels: { 'llm-d.ai/role': 'decode' } }, port: 8000 } });
  await kube.request('POST', pathOf('Service', ns), {
    body: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'llama-decode', labels: { 'llm-d.ai/role': 'decode' } },
      spec: { selector: { app: 'llama-decode' }, ports: [{ name: 'http', port: 8000, targetPort: fake.port, protocol: 'TCP' }] },
    },
  });
  await kube.request('POST', pathOf('Pod', ns), {
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'llama-decode-0', labels: { app: 'llama-decode' } }, spec: { containers: [{ name: 'vllm', image: 'vllm/vllm-openai:v0.6.3' }] } },
  });
  await eventually(() => markPodsReady(ns, { app: 'llama-decode' }, '127.0.0.1'), { timeoutMs: T });
  // The EndpointSlice controller needs a moment: ask again until the answer is in.
  await eventually(async () => {
    await discoverNow('decode');
    await eventually(async () => {
      expect((await objects.mustGet('ModelAPI', ns, 'decode')).status?.discoveredModels).toEqual([{ id: 'meta-llama/Llama-3.1-8B-Instruct', ownedBy: 'vllm' }]);
    }, { timeoutMs: 3000 });
  }, { timeoutMs: T });
  await eventually(async () => expect(await models()).toContain('meta-llama/Llama-3.1-8B-Instruct vllm'));
}, 2 * T);
