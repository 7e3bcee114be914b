/**
 * The router as installed: authenticated as its own ServiceAccount with nothing but the rendered RBAC, it
 * routes, serves the admin API (bearer token from a Secret) whose mappings are ModelRoutes that kubectl
 * shows, and asks the controller to discover models through the ModelAPI annotation.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { Router } from '../../controller/router/server.js';
import { Scenarios, testClient } from '../env/controller.js';
import { applyInstallRbac, kubeConfigWithToken, serviceAccountToken } from '../env/install-rbac.js';
import { KUBECONFIG_ENV, eventually, markPodsReady } from '../env/kube.js';
import { TestObjects, pathOf } from '../env/objects.js';
import { FakeModelServer, Json, fakeModelServer } from './router-fakes.js';

const T = 90_000;
const TOKEN = 'admin-token-for-tests';
const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
let router: Router;
let asRouter: KubeClient;
const clusterObjects: string[] = [];
const fakes: FakeModelServer[] = [];
let api: string;
let admin: string;

/** Applies the router's ServiceAccount and RBAC as install renders them (cluster-scoped names made unique). */
async function installRouterRbac(): Promise<string> {
  clusterObjects.push(...await applyInstallRbac(kube, ns, (o) => o.metadata.name.startsWith('agentway-router')));
  return serviceAccountToken(kube, ns, 'agentway-router');
}

const kubectl = async (...args: string[]) => (await promisify(execFile)('kubectl', ['--kubeconfig', process.env[KUBECONFIG_ENV]!, '-n', ns, ...args])).stdout;

async function call(url: string, method: string, body?: Json, token = TOKEN): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(url, {
    method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
}

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await scenarios.namespace('router-admin');
  const token = await installRouterRbac();
  await kube.request('POST', pathOf('Secret', ns), {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'agentway-router-admin' }, stringData: { token: TOKEN } },
  });
  await kube.request('POST', pathOf('Secret', ns), { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other' }, stringData: { key: 'x' } } });
  asRouter = new KubeClient(kubeConfigWithToken(token, 'agentway-router'));
  // The authorizer learns of new bindings through its own watch: wait until it has.
  await eventually(async () => {
    await asRouter.request('GET', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelroutes`);
    await asRouter.request('GET', `/api/v1/namespaces/${ns}/secrets/agentway-router-admin`);
  }, { timeoutMs: T });

  await scenarios.run(ns);
  const vllm = await fakeModelServer('vllm', ['llama'], 'vllm');
  const sglang = await fakeModelServer('sglang', ['llama', 'llama-long-context'], 'sglang');
  fakes.push(vllm, sglang);
  await objects.create(ns, 'ModelAPI', 'llama-vllm', { image: 'vllm/vllm-openai:v0.6.3', port: vllm.port, models: ['llama'], ownedBy: 'vllm' });
  await objects.create(ns, 'ModelAPI', 'llama-sglang', { image: 'lmsysorg/sglang:v0.4.6', port: sglang.port, models: ['llama'], ownedBy: 'sglang' });
  for (const name of ['llama-vllm', 'llama-sglang']) {
    await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': `modelapi-${name}` }, '127.0.0.1'), { timeoutMs: T });
  }
  router = new Router({
    client: asRouter, log: pino({ level: 'silent' }), namespace: ns, port: 0, host: '127.0.0.1', adminPort: 0,
    adminTokenSecret: `${ns}/agentway-router-admin`,
  });
  await router.start();
  api = `http://127.0.0.1:${router.port}`;
  admin = `http://127.0.0.1:${router.adminPort}`;
  await eventually(async () => expect((await call(`${api}/v1/chat/completions`, 'POST', { model: 'llama', messages: [] })).status).toBe(200), { timeoutMs: T });
}, 3 * T);

afterAll(async () => {
  await router?.stop();
  asRouter?.close();
  await scenarios.stopAll();
  await Promise.all(fakes.map((f) => f.close()));
  for (const p of clusterObjects) await kube.request('DELETE', p).catch(() => undefined);
  await scenarios.deleteNamespaces();
  kube.close();
});

test('the router\'s own token reads what it routes by and nothing more', async () => {
  const denied = async (method: string, path: string, body?: unknown) => {
    const err = await asRouter.request(method, path, { body }).then(() => undefined, (e) => e);
    expect([path, err instanceof ApiError ? err.status : err]).toEqual([path, 403]);
  };
  await denied('GET', `/api/v1/namespaces/${ns}/secrets/other`);
  await denied('GET', `/api/v1/namespaces/${ns}/secrets`);
  await denied('GET', `/apis/apps/v1/namespaces/${ns}/deployments`);
  await denied('DELETE', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelapis/llama-vllm`);
  await denied('POST', `/api/v1/namespaces/${ns}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } });
});

test('the admin API refuses a missing or wrong token', async () => {
  expect((await call(`${admin}/admin/api/routing`, 'GET', undefined, '')).status).toBe(401);
  expect((await call(`${admin}/admin/api/routing`, 'GET', undefined, 'wrong')).status).toBe(401);
  expect((await call(`${admin}/admin/api/routing`, 'POST', { model: 'x', modelapi: 'llama-vllm' }, 'wrong')).status).toBe(401);
  expect((await call(`${admin}/admin/api/routing`, 'GET')).status).toBe(200);
});

test('POST makes a ModelRoute kubectl shows, routing follows it, DELETE removes it', async () => {
  const created = await call(`${admin}/admin/api/routing`, 'POST', { model: 'llama', owned_by: 'vllm', modelapi: 'llama-sglang' });
  expect(created.status).toBe(201);
  expect(created.json).toMatchObject({ namespace: ns, model: 'llama', owned_by: 'vllm', targets: [{ modelAPI: 'llama-sglang' }] });
  const table = await kubectl('get', 'modelroutes');
  expect(table).toMatch(/NAME\s+MODEL\s+ENGINE\s+STRATEGY\s+AGE/);
  expect(table).toMatch(new RegExp(`${created.json.name}\\s+llama\\s+vllm\\s+capacity`));
  const live = await kube.request('GET', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelroutes/${created.json.name}`);
  expect(live.metadata.managedFields.map((m: Json) => m.manager)).toEqual(['agentway-admin']);

  const listed = await call(`${admin}/admin/api/routing`, 'GET');
  expect(listed.json.data).toEqual([created.json]);
  await eventually(async () => {
    const r = await call(`${api}/v1/chat/completions`, 'POST', { model: 'llama', owned_by: 'vllm', messages: [] });
    expect(r.headers.get('x-agentway-backend')).toBe(`${ns}/llama-sglang`);
  });

  expect((await call(`${admin}/admin/api/routing?model=llama&owned_by=vLLM`, 'DELETE')).status).toBe(200);
  await eventually(async () => expect(await kubectl('get', 'modelroutes', '-o', 'name')).toBe(''));
  await eventually(async () => {
    const r = await call(`${api}/v1/chat/completions`, 'POST', { model: 'llama', owned_by: 'vllm', messages: [] });
    expect(r.headers.get('x-agentway-backend')).toBe(`${ns}/llama-vllm`);
  });
  expect((await call(`${admin}/admin/api/routing?model=llama&owned_by=vllm`, 'DELETE')).status).toBe(404);
});

test('a mapping needs a model and a target; malformed JSON is a 400', async () => {
  expect((await call(`${admin}/admin/api/routing`, 'POST', { modelapi: 'llama-vllm' })).status).toBe(400);
  expect((await call(`${admin}/admin/api/routing`, 'POST', { model: 'llama' })).status).toBe(400);
  const bad = await fetch(`${admin}/admin/api/routing`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{' });
  expect(bad.status).toBe(400);
});

test('POST /admin/discover has the controller discover models now', async () => {
  const r = await call(`${admin}/admin/discover`, 'POST');
  expect([r.status, r.json.error]).toEqual([202, undefined]);
  expect(r.json.modelapis).toEqual([`${ns}/llama-sglang`, `${ns}/llama-vllm`]);
  const cr = await objects.mustGet('ModelAPI', ns, 'llama-sglang');
  expect(cr.metadata.annotations['agentway.dev/discover-at']).toBe(r.json.discoverAt);
  await eventually(async () => {
    expect((await objects.mustGet('ModelAPI', ns, 'llama-sglang')).status?.discoveredModels).toEqual([
      { id: 'llama', ownedBy: 'sglang' }, { id: 'llama-long-context', ownedBy: 'sglang' },
    ]);
  }, { timeoutMs: T });
  await eventually(async () => {
    const r2 = await call(`${api}/v1/chat/completions`, 'POST', { model: 'llama-long-context', messages: [] });
    expect(r2.headers.get('x-agentway-backend')).toBe(`${ns}/llama-sglang`);
  });
});
