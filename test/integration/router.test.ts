/**
 * The model router against the real control plane: ModelAPIs rendered by the controller, pods marked Ready
 * at 127.0.0.1 where fake vLLM/OpenAI servers answer, a backend found through a labelled Service and the
 * EndpointSlices the control plane makes for it, and ModelRoutes.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { Router } from '../../controller/router/server.js';
import { Scenarios, testClient } from '../env/controller.js';
import { eventually, kubeConfig, markPodsReady } from '../env/kube.js';
import { TestObjects, pathOf } from '../env/objects.js';
import { FakeModelServer, Json, fakeModelServer } from './router-fakes.js';

const T = 90_000;
const LLAMA = 'meta-llama/Llama-3.2-1B-Instruct';
const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
const routers: Router[] = [];
const fakes: Record<string, FakeModelServer> = {};
let base: string;

async function startRouter(): Promise<Router> {
  const router = new Router({ client: new KubeClient(kubeConfig()), log: pino({ level: 'silent' }), namespace: ns, port: 0, host: '127.0.0.1', metricsPort: 0 });
  routers.push(router);
  await router.start();
  return router;
}

async function modelApi(name: string, spec: Json): Promise<void> {
  await objects.create(ns, 'ModelAPI', name, spec);
}

async function ready(name: string): Promise<void> {
  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': `modelapi-${name}` }, '127.0.0.1'), { timeoutMs: T });
}

async function post(path: string, body: Json | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json;
  try { json = JSON.parse(text); } catch { json = { text }; }
  return { status: res.status, headers: res.headers, json };
}

const chat = (extra: Json = {}) => ({ model: LLAMA, messages: [{ role: 'user', content: 'hi' }], ...extra });
const servedBy = async (path: string, body: Json, headers: Record<string, string> = {}) => {
  const r = await post(path, body, headers);
  expect(r.status).toBe(200);
  return r.headers.get('x-agentway-backend');
};

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await scenarios.namespace('router');
  fakes.vllm = await fakeModelServer('vllm', [LLAMA], 'vllm');
  fakes.sglang = await fakeModelServer('sglang', [LLAMA], 'sglang');
  fakes.external = await fakeModelServer('external', ['qwen'], 'vllm');
  fakes.gpu = await fakeModelServer('gpu', ['mixtral'], 'vllm');
  fakes.cpu = await fakeModelServer('cpu', ['mixtral'], 'vllm');
  fakes.capA = await fakeModelServer('cap-a', ['phi'], 'vllm');
  fakes.capB = await fakeModelServer('cap-b', ['phi'], 'vllm');
  fakes.slow = await fakeModelServer('slow', ['slow'], 'vllm');
  await scenarios.run(ns);
  const image = 'vllm/vllm-openai:v0.6.3';
  await modelApi('llama-vllm', { image, port: fakes.vllm.port, models: [LLAMA], ownedBy: 'vllm' });
  await modelApi('llama-sglang', { image, port: fakes.sglang.port, models: [LLAMA], ownedBy: 'SGLang' });
  await modelApi('mixtral-gpu', { image, port: fakes.gpu.port, models: ['mixtral'], ownedBy: 'vllm', resources: { gpu: 1 } });
  await modelApi('mixtral-cpu', { image, port: fakes.cpu.port, models: ['mixtral'], ownedBy: 'vllm', resources: { cpu: '4' } });
  const byEndpoint = { source: 'endpoint', path: '/capacity', metric: 'idleWorkers', intervalSeconds: 1 };
  await modelApi('phi-a', { image, port: fakes.capA.port, models: ['phi'], capacity: byEndpoint });
  await modelApi('phi-b', { image, port: fakes.capB.port, models: ['phi'], capacity: byEndpoint });
  await modelApi('slow', { image, port: fakes.slow.port, models: ['slow'], gatewayRoute: { timeout: '1s' } });
  await modelApi('ghost', { image, port: 1, models: ['ghost'], replicas: 0 });
  // A model server agentway does not run: a labelled Service, its pods, and the EndpointSlice the control plane makes.
  await modelApi('qwen', { models: ['qwen'], ownedBy: 'vllm', backend: { selector: { matchLabels: { 'llm-d.ai/role': 'decode' } }, port: 80 } });
  await kube.request('POST', pathOf('Service', ns), {
    body: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'qwen-decode', labels: { 'llm-d.ai/role': 'decode' } },
      spec: { selector: { app: 'qwen-decode' }, ports: [{ name: 'http', port: 80, targetPort: fakes.external.port, protocol: 'TCP' }] },
    },
  });
  await kube.request('POST', pathOf('Pod', ns), {
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'qwen-decode-0', labels: { app: 'qwen-decode' } }, spec: { containers: [{ name: 'vllm', image }] } },
  });
  await eventually(() => markPodsReady(ns, { app: 'qwen-decode' }, '127.0.0.1'), { timeoutMs: T });
  for (const name of ['llama-vllm', 'llama-sglang', 'mixtral-gpu', 'mixtral-cpu', 'phi-a', 'phi-b', 'slow']) await ready(name);
  const router = await startRouter();
  base = `http://127.0.0.1:${router.port}`;
  // Every backend with its endpoint: the pods' and the EndpointSlice's.
  await eventually(async () => {
    for (const model of [LLAMA, 'mixtral', 'qwen', 'slow']) expect((await post('/v1/chat/completions', { ...chat(), model })).status).toBe(200);
  }, { timeoutMs: T });
}, 4 * T);

afterAll(async () => {
  await Promise.all(routers.map((r) => r.stop()));
  await scenarios.stopAll();
  await Promise.all(Object.values(fakes).map((f) => f.close()));
  await scenarios.deleteNamespaces();
  kube.close();
});

describe('what is asked for', () => {
  test('owned_by from the header, the query, body owned_by, engine and inference_server', async () => {
    expect(await servedBy('/v1/chat/completions', chat(), { 'x-owned-by': 'sglang' })).toBe(`${ns}/llama-sglang`);
    expect(await servedBy('/v1/chat/completions?owned_by=sglang', chat())).toBe(`${ns}/llama-sglang`);
    expect(await servedBy('/v1/chat/completions', chat({ owned_by: 'sglang' }))).toBe(`${ns}/llama-sglang`);
    expect(await servedBy('/v1/chat/completions', chat({ engine: 'SGLANG' }))).toBe(`${ns}/llama-sglang`);
    expect(await servedBy('/v1/chat/completions', chat({ inference_server: 'sglang' }))).toBe(`${ns}/llama-sglang`);
    for (let i = 0; i < 3; i++) expect(await servedBy('/v1/chat/completions', chat({ engine: 'vllm' }))).toBe(`${ns}/llama-vllm`);
  });

  test('the header wins over the query, the query over the body, owned_by over engine over inference_server', async () => {
    expect(await servedBy('/v1/chat/completions?owned_by=sglang', chat({ owned_by: 'sglang' }), { 'x-owned-by': 'vllm' })).toBe(`${ns}/llama-vllm`);
    expect(await servedBy('/v1/chat/completions?owned_by=vllm', chat({ owned_by: 'sglang' }))).toBe(`${ns}/llama-vllm`);
    expect(await servedBy('/v1/chat/completions', chat({ owned_by: 'vllm', engine: 'sglang', inference_server: 'sglang' }))).toBe(`${ns}/llama-vllm`);
    expect(await servedBy('/v1/chat/completions', chat({ engine: 'vllm', inference_server: 'sglang' }))).toBe(`${ns}/llama-vllm`);
  });

  test('routing-only fields never reach the backend; the model header works without a body model', async () => {
    fakes.sglang.received.length = 0;
    await servedBy('/v1/chat/completions', { messages: [], owned_by: 'sglang', engine: 'x', inference_server: 'y', temperature: 0 }, { 'x-agentway-model': LLAMA });
    expect(fakes.sglang.received).toEqual([{ model: LLAMA, messages: [], temperature: 0 }]);
  });

  test('completions and embeddings are routed alike', async () => {
    expect(await servedBy('/v1/completions', { model: LLAMA, prompt: 'hi', owned_by: 'sglang' })).toBe(`${ns}/llama-sglang`);
    const r = await post('/v1/embeddings', { model: 'qwen', input: 'hi' });
    expect([r.status, r.json.object]).toEqual([200, 'list']);
  });
});

describe('errors in OpenAI shape', () => {
  test('malformed JSON is a 400', async () => {
    const r = await post('/v1/chat/completions', '{"model": ');
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
  });

  test('an unknown model is a 404', async () => {
    const r = await post('/v1/chat/completions', chat({ model: 'gpt-9' }));
    expect([r.status, r.json.error.code]).toEqual([404, 'model_not_found']);
    expect(r.json.error.message).toContain('gpt-9');
  });

  test('an engine that does not serve the model is a 404 naming the engines that do', async () => {
    const r = await post('/v1/chat/completions', chat(), { 'x-owned-by': 'ollama' });
    expect([r.status, r.json.error.code]).toEqual([404, 'engine_not_found']);
    expect(r.json.error.message).toContain('engines serving it: sglang, vllm');
  });

  test('a body over 10 MiB is a 413, with or without Content-Length', async () => {
    const big = JSON.stringify(chat({ padding: 'x'.repeat(10 * 1024 * 1024) }));
    const r = await post('/v1/chat/completions', big);
    expect([r.status, r.json.error.code]).toEqual([413, 'request_too_large']);
    const chunked = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, duplex: 'half',
      body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } }),
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  test('503 with Retry-After only when no candidate endpoint is ready', async () => {
    const r = await post('/v1/chat/completions', chat({ model: 'ghost' }));
    expect([r.status, r.json.error.code, r.headers.get('retry-after')]).toEqual([503, 'no_ready_backends', '1']);
  });

  test('the upstream timeout is the route timeout', async () => {
    const r = await post('/v1/chat/completions', chat({ model: 'slow', delay_ms: 10_000 }));
    expect([r.status, r.json.error.code, r.headers.get('x-agentway-backend')]).toEqual([504, 'upstream_timeout', `${ns}/slow`]);
  });
});

describe('which endpoint', () => {
  test('the GPU header never lands on a CPU pool', async () => {
    const seen = new Set<string | null>();
    for (let i = 0; i < 8; i++) seen.add(await servedBy('/v1/chat/completions', chat({ model: 'mixtral' }), { 'x-agentway-accelerator': 'gpu' }));
    expect([...seen]).toEqual([`${ns}/mixtral-gpu`]);
    const any = new Set<string | null>();
    for (let i = 0; i < 8; i++) any.add(await servedBy('/v1/chat/completions', chat({ model: 'mixtral' })));
    expect([...any].sort()).toEqual([`${ns}/mixtral-cpu`, `${ns}/mixtral-gpu`]);
  });

  test('capacity shifts the choice; exhausted capacity degrades instead of failing', async () => {
    fakes.capA.capacity = { idle_workers: 0 };
    fakes.capB.capacity = { idle_workers: 4 };
    await eventually(async () => {
      for (let i = 0; i < 4; i++) expect(await servedBy('/v1/chat/completions', chat({ model: 'phi' }))).toBe(`${ns}/phi-b`);
    }, { timeoutMs: T });
    fakes.capA.capacity = { idle_workers: 4 };
    fakes.capB.capacity = { idle_workers: 0 };
    await eventually(async () => {
      for (let i = 0; i < 4; i++) expect(await servedBy('/v1/chat/completions', chat({ model: 'phi' }))).toBe(`${ns}/phi-a`);
    }, { timeoutMs: T });
    fakes.capA.capacity = { idle_workers: 0 };
    await eventually(async () => {
      const seen = new Set<string | null>();
      for (let i = 0; i < 6; i++) seen.add(await servedBy('/v1/chat/completions', chat({ model: 'phi' })));
      expect([...seen].sort()).toEqual([`${ns}/phi-a`, `${ns}/phi-b`]);
    }, { timeoutMs: T });
  });

  test('a backend agentway does not run is reached through its Service\'s EndpointSlice', async () => {
    const r = await post('/v1/chat/completions', chat({ model: 'qwen' }));
    expect([r.status, r.headers.get('x-agentway-backend'), r.headers.get('x-served-by')]).toEqual([200, `${ns}/qwen`, 'external']);
  });
});

describe('streaming', () => {
  test('the first chunk reaches the client before the backend sends its last', async () => {
    let release!: () => void;
    fakes.vllm.hold = new Promise((r) => { release = r; });
    fakes.vllm.streamFinished = false;
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-owned-by': 'vllm' }, body: JSON.stringify(chat({ stream: true, events: 50 })),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"content":"t0"');
    expect(fakes.vllm.streamFinished).toBe(false);
    release();
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += new TextDecoder().decode(c.value);
    expect(rest).toContain('"content":"t49"');
    expect(rest.trimEnd().endsWith('data: [DONE]')).toBe(true);
    fakes.vllm.hold = undefined;
  });

  test('a client that disconnects aborts the upstream request', async () => {
    let release!: () => void;
    fakes.sglang.hold = new Promise((r) => { release = r; });
    fakes.sglang.streamAborted = false;
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-owned-by': 'sglang' }, body: JSON.stringify(chat({ stream: true })), signal: abort.signal,
    });
    await res.body!.getReader().read();
    abort.abort();
    await eventually(() => expect(fakes.sglang.streamAborted).toBe(true));
    release();
    fakes.sglang.hold = undefined;
  });
});

describe('the header-native path', () => {
  test('each ModelAPI\'s HTTPRoute, as applied, matches its models and engine at /v1 straight to its pools', async () => {
    const route = await kube.request('GET', `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/modelapi-llama-sglang`);
    const headerRule = route.spec.rules.find((r: Json) => r.matches.some((m: Json) => m.headers));
    expect(headerRule.matches).toEqual([{
      path: { type: 'PathPrefix', value: '/v1' },
      headers: [{ type: 'Exact', name: 'x-agentway-model', value: LLAMA }, { type: 'Exact', name: 'x-owned-by', value: 'sglang' }],
    }]);
    expect(headerRule.backendRefs.map((b: Json) => b.name)).toEqual(['modelapi-llama-sglang']);
  });
});

describe('/v1/models and ModelRoutes', () => {
  test('/v1/models lists each model once per engine', async () => {
    const res = await fetch(`${base}/v1/models`);
    const body = await res.json() as Json;
    expect(body.object).toBe('list');
    const pairs = body.data.map((m: Json) => `${m.id} ${m.owned_by}`);
    expect(pairs).toEqual(expect.arrayContaining([`${LLAMA} SGLang`, `${LLAMA} vllm`, 'qwen vllm', 'mixtral vllm']));
    expect(pairs.filter((p: string) => p === 'mixtral vllm')).toHaveLength(1);
    expect(body.data.every((m: Json) => m.object === 'model' && typeof m.created === 'number')).toBe(true);
  });

  test('a ModelRoute wins over the ModelAPIs; the more specific one wins; an alias is sent upstream', async () => {
    const route = (name: string, spec: Json) => kube.request('POST', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelroutes`, {
      body: { apiVersion: 'agentway.dev/v1alpha1', kind: 'ModelRoute', metadata: { name }, spec },
    });
    await route('llama-all', { model: LLAMA, targets: [{ modelAPI: 'llama-sglang' }] });
    await eventually(async () => expect(await servedBy('/v1/chat/completions', chat(), { 'x-owned-by': 'vllm' })).toBe(`${ns}/llama-sglang`));
    await route('llama-vllm', { model: LLAMA, ownedBy: 'vllm', targets: [{ modelAPI: 'llama-vllm' }] });
    await eventually(async () => expect(await servedBy('/v1/chat/completions', chat(), { 'x-owned-by': 'vllm' })).toBe(`${ns}/llama-vllm`));
    expect(await servedBy('/v1/chat/completions', chat())).toBe(`${ns}/llama-sglang`);
    await route('fast', { model: 'fast', targets: [{ service: { name: 'qwen-decode', port: 80 }, model: 'qwen' }] });
    fakes.external.received.length = 0;
    await eventually(async () => expect(await servedBy('/v1/chat/completions', chat({ model: 'fast' }))).toBe(`${ns}/qwen-decode`));
    expect(fakes.external.received.at(-1)?.model).toBe('qwen');
    // A repeated temperature-0 request is answered from the cache, which names the same Service.
    const repeat = chat({ model: 'fast', temperature: 0, messages: [{ role: 'user', content: 'once more' }] });
    expect((await post('/v1/chat/completions', repeat)).headers.get('x-agentway-cache')).toBe('miss');
    // The answer is kept once it has gone out, which may be just after the client has it.
    const hit = await eventually(async () => {
      const r = await post('/v1/chat/completions', repeat);
      expect(r.headers.get('x-agentway-cache')).toBe('hit');
      return r;
    });
    expect(hit.headers.get('x-agentway-backend')).toBe(`${ns}/qwen-decode`);
    for (const name of ['llama-all', 'llama-vllm', 'fast']) await kube.request('DELETE', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelroutes/${name}`);
    await eventually(async () => expect((await post('/v1/chat/completions', chat({ model: 'fast' }))).status).toBe(404));
  });

  test('two router processes give the same answers', async () => {
    const second = await startRouter();
    const other = `http://127.0.0.1:${second.port}`;
    const [a, b] = await Promise.all([fetch(`${base}/v1/models`).then((r) => r.json()), fetch(`${other}/v1/models`).then((r) => r.json())]);
    expect(b).toEqual(a);
    for (const engine of ['vllm', 'sglang']) {
      const ask = (url: string) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'x-owned-by': engine }, body: JSON.stringify(chat()) });
      const [ra, rb] = await Promise.all([ask(base), ask(other)]);
      expect(rb.headers.get('x-agentway-backend')).toBe(ra.headers.get('x-agentway-backend'));
      await Promise.all([ra.text(), rb.text()]);
    }
    const unknown = await fetch(`${other}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat({ model: 'gpt-9' })) });
    expect(unknown.status).toBe(404);
  });
});
