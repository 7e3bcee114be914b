/**
 * Capacity-aware weights end to end: pods created by the real ReplicaSet controller are marked Ready with a
 * loopback IP where a real HTTP server answers /capacity; the controller polls them and rewrites the
 * HTTPRoute's weights through its normal render + apply path.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { deleteNamespace, eventually, markPodsReady, newNamespace } from '../env/kube.js';

const T = 60_000;
type Obj = Record<string, any>;

let kube: KubeClient;
let ns: string;
let controller: TestController;
const servers: http.Server[] = [];
// A loopback /16 of its own per run, so that parallel test files never share an address.
const net = `127.${100 + Math.floor(Math.random() * 100)}`;
let port = 0;

/** A capacity endpoint on `ip`: answers whatever `answer()` returns at that moment. */
async function capacityServer(ip: string, answer: () => { status?: number; body: Obj }): Promise<void> {
  const server = http.createServer((req, res) => {
    const { status = 200, body } = answer();
    res.writeHead(req.url === '/capacity' ? status : 404, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  port ||= (server.address() as { port: number }).port;
}

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('capacity');
  // The first server picks a free port; every pod's server then listens on that port at its own address.
  await capacityServer(`${net}.0.1`, () => ({ body: {} }));
  controller = await startController(ns);
}, T);
afterAll(async () => {
  await controller.stop();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await deleteNamespace(ns);
  kube.close();
});

const routePath = (name: string) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/${name}`;
const crPath = (name: string) => `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelapis${name ? `/${name}` : ''}`;

async function route(name: string): Promise<Obj> {
  return kube.request('GET', routePath(name));
}

async function weights(name: string): Promise<Record<string, number>> {
  const r = await route(name);
  return Object.fromEntries(r.spec.rules[0].backendRefs.map((b: Obj) => [b.name, b.weight]));
}

async function createModelAPI(name: string, spec: Obj): Promise<void> {
  await kube.request('POST', crPath(''), { body: { apiVersion: 'agentway.dev/v1alpha1', kind: 'ModelAPI', metadata: { name }, spec } });
}

async function markReady(name: string, pool: string, ip: string): Promise<void> {
  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': `modelapi-${name}`, 'agentway.dev/pool': pool }, ip), { timeoutMs: T });
}

function capacityCondition(cr: Obj): Obj | undefined {
  return cr.status?.conditions?.find((c: Obj) => c.type === 'CapacityAvailable');
}

describe('capacity-aware weights', () => {
  test('weights follow polled capacity, exhaustion falls back to ready replicas, and the GPU rule never lists a CPU pool', async () => {
    const answers: Record<string, Obj> = { gpu: { idle_workers: 3 }, cpu: { idle_workers: 1 } };
    await capacityServer(`${net}.1.1`, () => ({ body: answers.gpu }));
    await capacityServer(`${net}.1.2`, () => ({ body: answers.cpu }));
    await createModelAPI('llm', {
      image: 'vllm/vllm-openai:v0.6.3', port,
      pools: [{ name: 'gpu', replicas: 1, resources: { gpu: 1 } }, { name: 'cpu', replicas: 1, resources: { cpu: '4' } }],
      capacity: { source: 'endpoint', path: '/capacity', metric: 'idleWorkers', intervalSeconds: 1 },
    });
    await markReady('llm', 'gpu', `${net}.1.1`);
    await markReady('llm', 'cpu', `${net}.1.2`);

    await eventually(async () => expect(await weights('modelapi-llm')).toEqual({ 'modelapi-llm-gpu': 75, 'modelapi-llm-cpu': 25 }), { timeoutMs: T });
    const r = await route('modelapi-llm');
    expect(r.spec.rules[1].matches[0].headers).toEqual([{ type: 'Exact', name: 'x-agentway-accelerator', value: 'gpu' }]);
    expect(r.spec.rules[1].backendRefs.map((b: Obj) => b.name)).toEqual(['modelapi-llm-gpu']);

    answers.gpu = { idle_workers: 1 };
    answers.cpu = { idle_workers: 3 };
    await eventually(async () => expect(await weights('modelapi-llm')).toEqual({ 'modelapi-llm-gpu': 25, 'modelapi-llm-cpu': 75 }), { timeoutMs: T });
    await eventually(async () => {
      const cr = await kube.request('GET', crPath('llm'));
      expect(capacityCondition(cr)).toMatchObject({ status: 'True' });
      expect(cr.status.pools).toEqual([
        { name: 'gpu', ready: 1, capacity: 1, weight: 25 },
        { name: 'cpu', ready: 1, capacity: 3, weight: 75 },
      ]);
    }, { timeoutMs: T });

    // Nothing free anywhere: weights follow ready replicas, and the condition says so.
    answers.gpu = { idle_workers: 0 };
    answers.cpu = { idle_workers: 0 };
    await eventually(async () => {
      expect(await weights('modelapi-llm')).toEqual({ 'modelapi-llm-gpu': 50, 'modelapi-llm-cpu': 50 });
      expect(capacityCondition(await kube.request('GET', crPath('llm')))).toMatchObject({ status: 'False', reason: 'CapacityExhausted' });
    }, { timeoutMs: T });

    // A pod that fails its poll counts as 0.
    answers.gpu = { idle_workers: 5 };
    answers.cpu = { idle_workers: 5 };
    await eventually(async () => expect(await weights('modelapi-llm')).toEqual({ 'modelapi-llm-gpu': 50, 'modelapi-llm-cpu': 50 }), { timeoutMs: T });
    answers.cpu = { idle_workers: 'not a number' };
    await eventually(async () => expect(await weights('modelapi-llm')).toEqual({ 'modelapi-llm-gpu': 100, 'modelapi-llm-cpu': 0 }), { timeoutMs: T });
  }, T * 4);

  test('capacity flapping inside the hysteresis band makes no writes', async () => {
    let gpu = 10;
    await capacityServer(`${net}.2.1`, () => ({ body: { idle_workers: gpu } }));
    await capacityServer(`${net}.2.2`, () => ({ body: { idle_workers: 10 } }));
    await createModelAPI('flappy', {
      image: 'vllm/vllm-openai:v0.6.3', port,
      pools: [{ name: 'a', replicas: 1 }, { name: 'b', replicas: 1 }],
      capacity: { source: 'endpoint', metric: 'idleWorkers', intervalSeconds: 1 },
    });
    await markReady('flappy', 'a', `${net}.2.1`);
    await markReady('flappy', 'b', `${net}.2.2`);
    await eventually(async () => {
      expect(await weights('modelapi-flappy')).toEqual({ 'modelapi-flappy-a': 50, 'modelapi-flappy-b': 50 });
      expect(capacityCondition(await kube.request('GET', crPath('flappy')))).toMatchObject({ status: 'True' });
    }, { timeoutMs: T });
    // Let the last status write land before counting.
    await new Promise((r) => setTimeout(r, 2500));
    const before = (await route('modelapi-flappy')).metadata.resourceVersion;
    const crBefore = (await kube.request('GET', crPath('flappy'))).metadata.resourceVersion;
    const polls = async () => (await controller.manager.metrics.registry.getSingleMetric('agentway_capacity_polls_total')!.get()).values[0].value;
    const pollsBefore = await polls();

    // 50/50 ↔ 55/45 ↔ 45/55: every move is under 10 points.
    for (const v of [12, 8, 12, 8, 11, 9]) {
      gpu = v;
      await new Promise((r) => setTimeout(r, 1100));
    }
    expect(await polls()).toBeGreaterThan(pollsBefore + 6);
    expect((await route('modelapi-flappy')).metadata.resourceVersion).toBe(before);
    expect((await kube.request('GET', crPath('flappy'))).metadata.resourceVersion).toBe(crBefore);

    // A move of 10 points or more is written.
    gpu = 30;
    await eventually(async () => expect(await weights('modelapi-flappy')).toEqual({ 'modelapi-flappy-a': 75, 'modelapi-flappy-b': 25 }), { timeoutMs: T });
  }, T * 3);

  test('replicas source: a pool without a ready pod gets weight 0; no ready pool at all is NoReadyBackends', async () => {
    await createModelAPI('rep', {
      image: 'vllm/vllm-openai:v0.6.3', port: 8000,
      pools: [{ name: 'big', replicas: 1, resources: { gpu: 2 } }, { name: 'small', replicas: 1 }],
    });
    await eventually(async () => {
      expect(await weights('modelapi-rep')).toEqual({ 'modelapi-rep-big': 0, 'modelapi-rep-small': 0 });
      const cr = await kube.request('GET', crPath('rep'));
      expect(capacityCondition(cr)).toMatchObject({ status: 'False', reason: 'NoReadyBackends' });
      expect(cr.status.conditions.find((c: Obj) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NoReadyBackends' });
    }, { timeoutMs: T });

    await markReady('rep', 'small', `${net}.3.2`);
    await eventually(async () => expect(await weights('modelapi-rep')).toEqual({ 'modelapi-rep-big': 0, 'modelapi-rep-small': 100 }), { timeoutMs: T });
    await markReady('rep', 'big', `${net}.3.1`);
    // c = ready × max(1, gpu): 2 for big, 1 for small.
    await eventually(async () => expect(await weights('modelapi-rep')).toEqual({ 'modelapi-rep-big': 67, 'modelapi-rep-small': 33 }), { timeoutMs: T });
  }, T * 2);
});

