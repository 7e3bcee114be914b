/** What a request asks for and who may serve it: the precedence of DESIGN §8, as pure functions. */
import { ModelBackendInfo, RouteInfo, modelList, resolve, routingAsk } from '../../controller/router/resolve.js';

const q = (s = '') => new URLSearchParams(s);

describe('routingAsk', () => {
  test('model comes from the body, else from x-agentway-model', () => {
    expect(routingAsk({ 'x-agentway-model': 'b' }, q(), { model: 'a' }).ask.model).toBe('a');
    expect(routingAsk({ 'x-agentway-model': 'b' }, q(), {}).ask.model).toBe('b');
    expect(routingAsk({}, q(), { model: '' }).ask.model).toBeUndefined();
  });

  test('owned_by: header, then query, then body owned_by, engine, inference_server', () => {
    const body = { owned_by: 'c', engine: 'd', inference_server: 'e' };
    expect(routingAsk({ 'x-owned-by': 'a' }, q('owned_by=b'), body).ask.ownedBy).toBe('a');
    expect(routingAsk({}, q('owned_by=b'), body).ask.ownedBy).toBe('b');
    expect(routingAsk({}, q(), body).ask.ownedBy).toBe('c');
    expect(routingAsk({}, q(), { engine: 'd', inference_server: 'e' }).ask.ownedBy).toBe('d');
    expect(routingAsk({}, q(), { inference_server: 'e' }).ask.ownedBy).toBe('e');
    expect(routingAsk({}, q(), {}).ask.ownedBy).toBeUndefined();
  });

  test('routing-only fields are stripped from the forwarded body, the input stays as it was', () => {
    const body = { model: 'm', messages: [], owned_by: 'vllm', engine: 'x', inference_server: 'y', stream: true };
    const { forward } = routingAsk({}, q(), body);
    expect(forward).toEqual({ model: 'm', messages: [], stream: true });
    expect(body.owned_by).toBe('vllm');
  });

  test('x-agentway-accelerator: gpu asks for GPU pools only', () => {
    expect(routingAsk({ 'x-agentway-accelerator': 'GPU' }, q(), {}).ask.gpu).toBe(true);
    expect(routingAsk({ 'x-agentway-accelerator': 'cpu' }, q(), {}).ask.gpu).toBe(false);
  });
});

const llama = 'meta-llama/Llama-3.2-1B-Instruct';
const backends: ModelBackendInfo[] = [
  { key: 'ai/llama-vllm', models: [{ id: llama, engine: 'vllm' }], created: 100 },
  { key: 'ai/llama-sglang', models: [{ id: llama, engine: 'SGLang' }, { id: 'qwen', engine: 'SGLang' }], created: 50 },
  { key: 'ai/embed', models: [{ id: 'bge' }], created: 10 },
];
const ask = (model?: string, ownedBy?: string) => ({ model, ownedBy, gpu: false });

describe('resolve', () => {
  test('without an engine, every ModelAPI serving the model is a candidate', () => {
    const r = resolve(ask(llama), backends, []);
    expect(r.ok && r.targets.map((t) => t.backend)).toEqual(['ai/llama-sglang', 'ai/llama-vllm']);
  });

  test('an engine narrows the candidates, case-insensitively', () => {
    const r = resolve(ask(llama, 'sglang'), backends, []);
    expect(r.ok && r.targets.map((t) => t.backend)).toEqual(['ai/llama-sglang']);
  });

  test('an unknown model is a 404 model_not_found', () => {
    const r = resolve(ask('gpt-5'), backends, []);
    expect(r).toMatchObject({ ok: false, status: 404, code: 'model_not_found' });
  });

  test('an engine that does not serve the model is a 404 naming the engines that do', () => {
    const r = resolve(ask(llama, 'ollama'), backends, []);
    expect(r).toMatchObject({ ok: false, status: 404, code: 'engine_not_found' });
    expect(!r.ok && r.message).toContain('engines serving it: sglang, vllm');
  });

  test('no model at all is a 400', () => {
    expect(resolve(ask(), backends, [])).toMatchObject({ ok: false, status: 400 });
  });

  const route = (key: string, ownedBy: string | undefined, backend: string, model?: string): RouteInfo => ({
    key, model: llama, ownedBy, strategy: 'capacity', targets: [{ backend, model, weight: 1, priority: 0 }],
  });

  test('a ModelRoute without ownedBy wins over the ModelAPIs for every request of its model', () => {
    const routes = [route('ai/all', undefined, 'ai/embed')];
    for (const engine of [undefined, 'vllm', 'nonesuch']) {
      const r = resolve(ask(llama, engine), backends, routes);
      expect(r.ok && [r.route, r.targets[0].backend]).toEqual(['ai/all', 'ai/embed']);
    }
  });

  test('a ModelRoute with ownedBy applies only to its engine, and beats a general one', () => {
    const routes = [route('ai/all', undefined, 'ai/embed'), route('ai/for-vllm', 'VLLM', 'ai/llama-vllm', 'llama-3.2-fp8')];
    const forVllm = resolve(ask(llama, 'vllm'), backends, routes);
    expect(forVllm.ok && forVllm.route).toBe('ai/for-vllm');
    expect(forVllm.ok && forVllm.targets[0].model).toBe('llama-3.2-fp8');
    const other = resolve(ask(llama, 'sglang'), backends, routes);
    expect(other.ok && other.route).toBe('ai/all');
    expect(other.ok && other.targets[0].model).toBe(llama);
  });

  test('an engine-specific ModelRoute alone leaves other engines to the ModelAPIs', () => {
    const r = resolve(ask(llama, 'sglang'), backends, [route('ai/for-vllm', 'vllm', 'ai/embed')]);
    expect(r.ok && r.route).toBeUndefined();
    expect(r.ok && r.targets.map((t) => t.backend)).toEqual(['ai/llama-sglang']);
  });

  test('a model only a ModelRoute names is known', () => {
    const r = resolve(ask('alias'), backends, [{ key: 'ai/alias', model: 'alias', strategy: 'priority', targets: [{ backend: 'ai/embed', model: 'bge', weight: 1, priority: 0 }] }]);
    expect(r.ok && r.strategy).toBe('priority');
    expect(r.ok && r.targets[0].model).toBe('bge');
  });
});

describe('modelList', () => {
  test('one entry per model and engine, sorted, with the real engine', () => {
    const list = modelList(backends, []);
    expect(list.object).toBe('list');
    expect(list.data.map((m) => [m.id, m.owned_by])).toEqual([
      ['bge', 'unknown'], [llama, 'SGLang'], [llama, 'vllm'], ['qwen', 'SGLang'],
    ]);
    expect(list.data.every((m) => m.object === 'model')).toBe(true);
    expect(list.data.find((m) => m.id === 'qwen')?.created).toBe(50);
  });

  test('ModelRoute models are listed with their engine', () => {
    const list = modelList(backends, [{ key: 'ai/alias', model: 'alias', ownedBy: 'vllm', strategy: 'capacity', targets: [{ backend: 'ai/llama-vllm', weight: 1, priority: 0 }] }]);
    expect(list.data.find((m) => m.id === 'alias')).toEqual({ id: 'alias', object: 'model', created: 100, owned_by: 'vllm' });
  });
});
