/**
 * The controller on the real control plane: create, update, delete, prune, drift, invalid specs, no-op
 * resyncs and restarts, each in a namespace of its own.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { PART_OF_LABEL } from '../../controller/reconciler/apply.js';
import { Scenarios, testClient } from '../env/controller.js';
import { Obj, TestObjects, cond, pathOf } from '../env/objects.js';
import { eventually, markPodsReady } from '../env/kube.js';

const T = 90_000;

let kube: KubeClient;
const scenarios = new Scenarios();
const namespace = (prefix: string) => scenarios.namespace(prefix);
const run = (ns: string, opts: Parameters<typeof scenarios.run>[1] = {}) => scenarios.run(ns, opts);

beforeAll(() => { kube = testClient(); objects = new TestObjects(kube); });
afterEach(() => scenarios.stopAll());
afterAll(async () => {
  await scenarios.deleteNamespaces();
  kube.close();
});


let objects: TestObjects;
const get = (kind: string, ns: string, name: string) => objects.get(kind, ns, name);
const mustGet = (kind: string, ns: string, name: string) => objects.mustGet(kind, ns, name);
const create = (ns: string, kind: string, name: string, spec: Obj) => objects.create(ns, kind, name, spec);
const patchSpec = (ns: string, kind: string, name: string, spec: Obj) => objects.patchSpec(ns, kind, name, spec);
const remove = (kind: string, ns: string, name: string) => objects.remove(kind, ns, name);
const path = pathOf;

const agentSpec = (extra: Obj = {}): Obj => ({ image: 'ghcr.io/acme/agent:1.2', port: 8000, ...extra });

describe('controller', () => {
  test('a new Agent gets its Deployment, Service and HTTPRoute, owned, with status', async () => {
    const ns = await namespace('ctl-create');
    await run(ns);
    const cr = await create(ns, 'Agent', 'a', agentSpec({ replicas: 1 }));

    const dep = await eventually(() => mustGet('Deployment', ns, 'agent-a'));
    const svc = await mustGet('Service', ns, 'agent-a');
    const route = await mustGet('HTTPRoute', ns, 'agent-a');
    for (const o of [dep, svc, route]) {
      expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Agent', name: 'a', uid: cr.metadata.uid, controller: true })]);
      expect(o.metadata.labels[PART_OF_LABEL]).toBe(cr.metadata.uid);
      expect(o.metadata.managedFields.map((m: Obj) => m.manager)).toContain('agentway');
    }
    expect(route.spec.rules[0].matches[0].path).toEqual({ type: 'PathPrefix', value: `/${ns}/agent/a` });
    expect(route.spec.rules[0].timeouts).toEqual({ request: '120s' });

    const status = await eventually(async () => {
      const a = await mustGet('Agent', ns, 'a');
      expect(a.status?.observedGeneration).toBe(1);
      expect(a.status?.endpoint).toBe(`/${ns}/agent/a`);
      expect(cond(a, 'Ready')).toMatchObject({ status: 'False', reason: 'NoReadyBackends', observedGeneration: 1 });
      expect(cond(a, 'RouteAccepted')).toMatchObject({ status: 'Unknown', reason: 'Pending' });
      return a;
    }, { timeoutMs: T });
    expect(status.status.conditions.every((c: Obj) => typeof c.lastTransitionTime === 'string')).toBe(true);

    // The pod the real ReplicaSet controller created turns Ready: so does the Agent.
    await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'agent-a' }), { timeoutMs: T });
    await eventually(async () => expect(cond(await get('Agent', ns, 'a'), 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' }), { timeoutMs: T });
  }, T * 2);

  test('a timeout change updates the route; the gateway route status is mirrored', async () => {
    const ns = await namespace('ctl-update');
    await run(ns);
    await create(ns, 'MCPServer', 'm', agentSpec());
    await eventually(async () => expect((await mustGet('HTTPRoute', ns, 'mcp-m')).spec.rules[0].timeouts).toEqual({ request: '30s' }), { timeoutMs: T });

    await patchSpec(ns, 'MCPServer', 'm', { gatewayRoute: { timeout: '45s' } });
    await eventually(async () => expect((await mustGet('HTTPRoute', ns, 'mcp-m')).spec.rules[0].timeouts).toEqual({ request: '45s' }), { timeoutMs: T });
    await eventually(async () => expect((await mustGet('MCPServer', ns, 'm')).status.observedGeneration).toBe(2), { timeoutMs: T });

    // A Gateway controller accepts the route: RouteAccepted follows.
    const route = await mustGet('HTTPRoute', ns, 'mcp-m');
    await kube.request('PATCH', `${path('HTTPRoute', ns, 'mcp-m')}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          parents: [{
            parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'agentway-gateway', namespace: ns },
            controllerName: 'example.com/gateway',
            conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', observedGeneration: route.metadata.generation, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z/, 'Z') }],
          }],
        },
      },
    });
    await eventually(async () => expect(cond(await get('MCPServer', ns, 'm'), 'RouteAccepted')).toMatchObject({ status: 'True', reason: 'Accepted' }), { timeoutMs: T });
  }, T * 3);

  test('deleting the CR deletes its children through garbage collection', async () => {
    const ns = await namespace('ctl-delete');
    await run(ns);
    await create(ns, 'Agent', 'gone', agentSpec());
    await eventually(() => mustGet('HTTPRoute', ns, 'agent-gone'), { timeoutMs: T });
    await remove('Agent', ns, 'gone');
    await eventually(async () => {
      expect(await get('Deployment', ns, 'agent-gone')).toBeUndefined();
      expect(await get('Service', ns, 'agent-gone')).toBeUndefined();
      expect(await get('HTTPRoute', ns, 'agent-gone')).toBeUndefined();
    }, { timeoutMs: T });
  }, T * 2);

  test('removing a pool prunes its Deployment and Service, and keeps the others', async () => {
    const ns = await namespace('ctl-prune');
    await run(ns);
    await create(ns, 'ModelAPI', 'llm', agentSpec({
      pools: [{ name: 'gpu', replicas: 1, resources: { gpu: 1 } }, { name: 'cpu', replicas: 1, resources: { cpu: '2' } }],
    }));
    await eventually(async () => {
      await mustGet('Deployment', ns, 'modelapi-llm-gpu');
      await mustGet('Service', ns, 'modelapi-llm-cpu');
    }, { timeoutMs: T });
    const kept = await mustGet('Deployment', ns, 'modelapi-llm-cpu');

    await patchSpec(ns, 'ModelAPI', 'llm', { pools: [{ name: 'cpu', replicas: 1, resources: { cpu: '2' } }] });
    await eventually(async () => {
      expect(await get('Deployment', ns, 'modelapi-llm-gpu')).toBeUndefined();
      expect(await get('Service', ns, 'modelapi-llm-gpu')).toBeUndefined();
      const route = await mustGet('HTTPRoute', ns, 'modelapi-llm');
      expect(route.spec.rules).toHaveLength(1);
      expect(route.spec.rules[0].backendRefs.map((b: Obj) => b.name)).toEqual(['modelapi-llm-cpu']);
    }, { timeoutMs: T });
    expect((await mustGet('Deployment', ns, 'modelapi-llm-cpu')).metadata.uid).toBe(kept.metadata.uid);
  }, T * 2);

  test('a child edited or deleted by someone else is restored', async () => {
    const ns = await namespace('ctl-drift');
    await run(ns);
    await create(ns, 'Agent', 'd', agentSpec({ replicas: 2 }));
    await eventually(() => mustGet('Service', ns, 'agent-d'), { timeoutMs: T });

    await kube.request('PATCH', path('Deployment', ns, 'agent-d'), { contentType: 'application/merge-patch+json', body: { spec: { replicas: 5 } } });
    await kube.request('DELETE', path('Service', ns, 'agent-d'));
    await eventually(async () => {
      expect((await mustGet('Deployment', ns, 'agent-d')).spec.replicas).toBe(2);
      expect((await mustGet('Service', ns, 'agent-d')).spec.ports[0].port).toBe(8000);
    }, { timeoutMs: T });
  }, T * 2);

  test('a dangling reference: Ready=False with a reason, nothing applied, neighbours unaffected, fixed when it appears', async () => {
    const ns = await namespace('ctl-invalid');
    await run(ns);
    await create(ns, 'Agent', 'lost', agentSpec({ modelAPI: 'nowhere' }));
    await create(ns, 'Agent', 'neighbour', agentSpec());

    await eventually(async () => {
      const lost = await mustGet('Agent', ns, 'lost');
      expect(cond(lost, 'Ready')).toMatchObject({ status: 'False', reason: 'ModelAPINotFound' });
      expect(cond(lost, 'Ready')!.message).toContain('spec.modelAPI');
      await mustGet('HTTPRoute', ns, 'agent-neighbour');
    }, { timeoutMs: T });
    expect(await get('Deployment', ns, 'agent-lost')).toBeUndefined();
    expect(await get('HTTPRoute', ns, 'agent-lost')).toBeUndefined();

    const events = await kube.request('GET', path('Event', ns), { query: { fieldSelector: 'involvedObject.name=lost' } });
    expect(events.items.map((e: Obj) => e.reason)).toContain('ModelAPINotFound');

    await create(ns, 'ModelAPI', 'nowhere', agentSpec());
    await eventually(async () => {
      const dep = await mustGet('Deployment', ns, 'agent-lost');
      expect(dep.spec.template.spec.containers[0].env).toContainEqual({ name: 'MODEL_API_URL', value: `http://agentway-gateway.${ns}.svc/${ns}/modelapi/nowhere` });
    }, { timeoutMs: T });
  }, T * 2);

  test('a spec that passes the schema but not render is InvalidSpec, naming the field', async () => {
    const ns = await namespace('ctl-invalid-spec');
    await run(ns);
    const longName = 'a'.repeat(40);
    await create(ns, 'MCPServer', longName, agentSpec({ pools: [{ name: 'b'.repeat(20) }] }));
    await eventually(async () => {
      const r = cond(await get('MCPServer', ns, longName), 'Ready');
      expect(r).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
      expect(r!.message).toContain('spec.pools[0].name');
    }, { timeoutMs: T });
    expect(await get('HTTPRoute', ns, `mcp-${longName}`)).toBeUndefined();
  }, T);

  test('a resync of unchanged CRs writes nothing', async () => {
    const ns = await namespace('ctl-resync');
    const first = await run(ns);
    for (const name of ['r1', 'r2', 'r3']) await create(ns, 'Agent', name, agentSpec());
    await create(ns, 'ModelAPI', 'm', agentSpec({ pools: [{ name: 'a' }, { name: 'b', resources: { gpu: 1 } }] }));
    await eventually(async () => {
      for (const name of ['r1', 'r2', 'r3']) expect((await mustGet('Agent', ns, name)).status?.endpoint).toBeDefined();
      expect((await mustGet('ModelAPI', ns, 'm')).status?.endpoint).toBeDefined();
    }, { timeoutMs: T });
    await scenarios.stop(first);

    const snapshot = async () => {
      const out: Record<string, string> = {};
      for (const kind of ['Deployment', 'Service', 'HTTPRoute', 'Agent', 'ModelAPI', 'Gateway']) {
        const list = await kube.request('GET', path(kind, ns));
        // The Deployment controller keeps writing Deployment status: their generation shows spec writes.
        for (const o of list.items) out[`${kind}/${o.metadata.name}`] = kind === 'Deployment' ? `generation ${o.metadata.generation}` : o.metadata.resourceVersion;
      }
      return out;
    };
    const before = await snapshot();
    // A new controller lists everything (each key reconciled once) and resyncs every 500 ms.
    const second = await run(ns, { resyncMs: 500 });
    await new Promise((r) => setTimeout(r, 3000));
    const reconciles = await second.manager.metrics.reconcileTotal.get();
    expect(reconciles.values.reduce((s, v) => s + v.value, 0)).toBeGreaterThanOrEqual(8);
    expect(second.client.counts.writes).toBe(0);
    expect(await snapshot()).toEqual(before);
  }, T * 2);

  test('a change made while the controller was down is applied when it starts again', async () => {
    const ns = await namespace('ctl-restart');
    const first = await run(ns);
    await create(ns, 'Agent', 'x', agentSpec());
    await eventually(() => mustGet('HTTPRoute', ns, 'agent-x'), { timeoutMs: T });
    await scenarios.stop(first);

    await patchSpec(ns, 'Agent', 'x', { gatewayRoute: { timeout: '5m' }, replicas: 3 });
    await run(ns);
    await eventually(async () => {
      expect((await mustGet('HTTPRoute', ns, 'agent-x')).spec.rules[0].timeouts).toEqual({ request: '5m' });
      expect((await mustGet('Deployment', ns, 'agent-x')).spec.replicas).toBe(3);
      expect((await mustGet('Agent', ns, 'x')).status.observedGeneration).toBe(2);
    }, { timeoutMs: T });
  }, T * 2);
});
