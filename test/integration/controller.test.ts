/**
 * The controller on the real control plane: create, update, delete, prune, drift, invalid specs, no-op
 * resyncs and restarts, each in a namespace of its own.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { PART_OF_LABEL } from '../../controller/reconciler/child-cache.js';
import { STATUS_MANAGERS, applyStatus } from '../../controller/kube/status-apply.js';
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

    const [dep, svc, route] = await eventually(() => Promise.all([
      mustGet('Deployment', ns, 'agent-a'), mustGet('Service', ns, 'agent-a'), mustGet('HTTPRoute', ns, 'agent-a'),
    ]));
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
    const rsNs = await namespace('ctl-resync-rs');
    const config = { routeServer: { namespace: rsNs } };
    const first = await run(ns, { config });
    for (const name of ['r1', 'r2', 'r3']) await create(ns, 'Agent', name, agentSpec());
    await create(ns, 'ModelAPI', 'm', agentSpec({ pools: [{ name: 'a' }, { name: 'b', resources: { gpu: 1 } }] }));
    // Values the server stores in another form: a quantity it canonicalizes, an env value it drops when empty.
    await create(ns, 'Agent', 'canonical', agentSpec({ resources: { cpu: '0.5', memory: '1024Mi' }, env: [{ name: 'EMPTY', value: '' }] }));
    // ClientPools outside the route server's namespace: each namespace gets a ReferenceGrant there.
    await create(ns, 'ClientPool', 'p1', { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } });
    await create(ns, 'ClientPool', 'p2', { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } });
    await eventually(async () => {
      for (const name of ['r1', 'r2', 'r3', 'canonical']) expect((await mustGet('Agent', ns, name)).status?.endpoint).toBeDefined();
      expect((await mustGet('ModelAPI', ns, 'm')).status?.endpoint).toBeDefined();
      for (const name of ['p1', 'p2']) expect((await mustGet('ClientPool', ns, name)).status?.endpoint).toBeDefined();
      await mustGet('ReferenceGrant', rsNs, `agentway-routes-from-${ns}`);
    }, { timeoutMs: T });
    expect((await mustGet('Deployment', ns, 'agent-canonical')).spec.template.spec.containers[0].resources.requests.cpu).toBe('500m');
    await scenarios.stop(first);

    const snapshot = async () => {
      const out: Record<string, string> = {};
      const grant = await mustGet('ReferenceGrant', rsNs, `agentway-routes-from-${ns}`);
      out.grant = grant.metadata.resourceVersion;
      for (const kind of ['Deployment', 'Service', 'HTTPRoute', 'Agent', 'ModelAPI', 'ClientPool', 'Gateway']) {
        const list = await kube.request('GET', path(kind, ns));
        // The Deployment controller keeps writing Deployment status: their generation shows spec writes.
        for (const o of list.items) out[`${kind}/${o.metadata.name}`] = kind === 'Deployment' ? `generation ${o.metadata.generation}` : o.metadata.resourceVersion;
      }
      return out;
    };
    const before = await snapshot();
    // A new controller lists everything (each key reconciled once) and resyncs every 500 ms.
    const second = await run(ns, { resyncMs: 500, config });
    await new Promise((r) => setTimeout(r, 3000));
    const reconciles = await second.manager.metrics.reconcileTotal.get();
    expect(reconciles.values.reduce((s, v) => s + v.value, 0)).toBeGreaterThanOrEqual(14);
    expect(second.client.counts.writes).toBe(0);
    expect(await snapshot()).toEqual(before);
  }, T * 2);

  test('a resync of unchanged CRs gives the event loop a turn between reconciles', async () => {
    const ns = await namespace('ctl-turns');
    const c = await run(ns);
    const names = Array.from({ length: 16 }, (_, i) => `t${i}`);
    await Promise.all(names.map((n) => create(ns, 'Agent', n, agentSpec())));
    await eventually(async () => {
      for (const n of names) expect((await mustGet('Agent', ns, n)).status?.observedGeneration).toBe(1);
    }, { timeoutMs: T });
    await eventually(async () => expect(c.manager.queue.length).toBe(0), { timeoutMs: T });
    const writes = c.client.counts.writes;

    // Every one of these reconciles finds its objects in place and so waits on no I/O. A callback queued now
    // runs at the event loop's next turn: while most of them are still queued, not after the last one.
    c.manager.enqueueAll();
    const queuedAtNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(c.manager.queue.length)));
    expect(queuedAtNextTurn).toBeGreaterThan(0);
    await eventually(async () => expect(c.manager.queue.length).toBe(0), { timeoutMs: T });
    expect(c.client.counts.writes).toBe(writes);
  }, T * 2);

  test("the route server's ReferenceGrant goes with the namespace's last ClientPool", async () => {
    const ns = await namespace('ctl-grant');
    const rsNs = await namespace('ctl-grant-rs');
    await run(ns, { config: { routeServer: { namespace: rsNs } } });
    const pool = { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } };
    await create(ns, 'ClientPool', 'p1', pool);
    await create(ns, 'ClientPool', 'p2', pool);
    const grantName = `agentway-routes-from-${ns}`;
    await eventually(() => mustGet('ReferenceGrant', rsNs, grantName), { timeoutMs: T });

    await remove('ClientPool', ns, 'p1');
    await eventually(async () => expect(await get('ClientPool', ns, 'p1')).toBeUndefined(), { timeoutMs: T });
    // Another pool of the namespace still routes through it.
    await new Promise((r) => setTimeout(r, 500));
    await mustGet('ReferenceGrant', rsNs, grantName);

    await remove('ClientPool', ns, 'p2');
    await eventually(async () => expect(await get('ReferenceGrant', rsNs, grantName)).toBeUndefined(), { timeoutMs: T });
  }, T * 2);

  test('status fields that no longer apply are removed; the fields of other writers are kept', async () => {
    const ns = await namespace('ctl-status');
    await run(ns);
    // Long enough that a long pool name makes a derived name too long, which only render checks.
    const name = 'a'.repeat(40);
    await create(ns, 'ModelAPI', name, agentSpec({ pools: [{ name: 'one' }] }));
    await eventually(async () => {
      const a = await mustGet('ModelAPI', ns, name);
      expect(a.status?.endpoint).toBe(`/${ns}/modelapi/${name}`);
      expect(a.status?.pools?.map((p: Obj) => p.name)).toEqual(['one']);
    }, { timeoutMs: T });
    // Another writer's field, under its own field manager, as model discovery writes it.
    await applyStatus(kube, { apiVersion: 'agentway.dev/v1alpha1', kind: 'ModelAPI', metadata: { name, namespace: ns } },
      { discoveredModels: [{ id: 'm1' }] }, STATUS_MANAGERS.discovery);

    await patchSpec(ns, 'ModelAPI', name, { gatewayRoute: { enabled: false } });
    await eventually(async () => {
      const a = await mustGet('ModelAPI', ns, name);
      expect(a.status.observedGeneration).toBe(2);
      expect(a.status.endpoint).toBeUndefined();
      expect(a.status.pools).toBeUndefined();
      expect(a.status.discoveredModels).toEqual([{ id: 'm1' }]);
    }, { timeoutMs: T });
    await eventually(async () => expect(await get('HTTPRoute', ns, `modelapi-${name}`)).toBeUndefined(), { timeoutMs: T });

    await patchSpec(ns, 'ModelAPI', name, { gatewayRoute: { enabled: true } });
    await eventually(async () => expect((await mustGet('ModelAPI', ns, name)).status.endpoint).toBe(`/${ns}/modelapi/${name}`), { timeoutMs: T });
    // A spec that render refuses (a derived name too long): Ready=False, and nothing of the last good render is claimed.
    await patchSpec(ns, 'ModelAPI', name, { pools: [{ name: 'b'.repeat(20) }] });
    await eventually(async () => {
      const a = await mustGet('ModelAPI', ns, name);
      expect(cond(a, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
      expect(a.status.endpoint).toBeUndefined();
      expect(a.status.pools).toBeUndefined();
      expect(a.status.discoveredModels).toEqual([{ id: 'm1' }]);
    }, { timeoutMs: T });
    const managers = (await mustGet('ModelAPI', ns, name)).metadata.managedFields
      .filter((m: Obj) => m.subresource === 'status' || m.fieldsV1?.['f:status']).map((m: Obj) => `${m.manager}/${m.operation}`);
    expect(managers).toEqual(expect.arrayContaining(['agentway/Apply', `${STATUS_MANAGERS.discovery}/Apply`]));
  }, T * 2);

  test('two CRs whose derived names collide: the second is refused naming both, the first keeps its objects', async () => {
    const ns = await namespace('ctl-collide');
    await run(ns);
    const first = await create(ns, 'Agent', 'foo', agentSpec({ pools: [{ name: 'bar' }] }));
    await eventually(() => mustGet('Service', ns, 'agent-foo-bar'), { timeoutMs: T });
    await create(ns, 'Agent', 'foo-bar', agentSpec());
    await eventually(async () => {
      const c = cond(await mustGet('Agent', ns, 'foo-bar'), 'Ready');
      expect(c).toMatchObject({ status: 'False', reason: 'NameConflict' });
      expect(c!.message).toContain('Agent foo-bar');
      expect(c!.message).toContain('Agent foo');
      expect(c!.message).toContain('agent-foo-bar');
    }, { timeoutMs: T });
    const svc = await mustGet('Service', ns, 'agent-foo-bar');
    expect(svc.metadata.ownerReferences).toEqual([expect.objectContaining({ name: 'foo', uid: first.metadata.uid })]);

    // The refused CR goes: the first one's objects stay.
    await remove('Agent', ns, 'foo-bar');
    await eventually(async () => expect(await get('Agent', ns, 'foo-bar')).toBeUndefined(), { timeoutMs: T });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await mustGet('Service', ns, 'agent-foo-bar')).metadata.uid).toBe(svc.metadata.uid);

    // A ClientPool named like a ClientInstance does not take the instance's HTTPRoute.
    const pool = { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } };
    await create(ns, 'ClientPool', 'sandbox', pool);
    const inst = await create(ns, 'ClientInstance', 'x', { pool: 'sandbox', client: 'alice', instance: 'one' });
    await eventually(async () => expect((await mustGet('HTTPRoute', ns, 'client-x')).metadata.ownerReferences[0].uid).toBe(inst.metadata.uid), { timeoutMs: T });
    await create(ns, 'ClientPool', 'x', pool);
    await eventually(async () => {
      const c = cond(await mustGet('ClientPool', ns, 'x'), 'Ready');
      expect(c).toMatchObject({ status: 'False', reason: 'NameConflict' });
      expect(c!.message).toContain('ClientInstance x');
    }, { timeoutMs: T });
    expect((await mustGet('HTTPRoute', ns, 'client-x')).metadata.ownerReferences[0].uid).toBe(inst.metadata.uid);

    // The instance goes: the pool was waiting for the name and takes it.
    await remove('ClientInstance', ns, 'x');
    await eventually(async () => {
      expect((await mustGet('HTTPRoute', ns, 'client-x')).metadata.ownerReferences[0].kind).toBe('ClientPool');
      expect(cond(await mustGet('ClientPool', ns, 'x'), 'Ready')).toMatchObject({ status: 'True' });
    }, { timeoutMs: T });
  }, T * 2);

  test('a shared object that fails to apply is retried with backoff, counted, and reported as an Event', async () => {
    const ns = await namespace('ctl-shared');
    // Not a port: the API server refuses the Gateway.
    const c = await run(ns, { config: { gateway: { port: 70000 } } });
    await eventually(async () => {
      const failures = await c.manager.metrics.sharedApplyFailures.get();
      expect(failures.values.find((v) => v.labels.kind === 'Gateway')?.value ?? 0).toBeGreaterThanOrEqual(3);
    }, { timeoutMs: T });
    const events = await kube.request('GET', `/api/v1/namespaces/${ns}/events`);
    expect(events.items).toEqual(expect.arrayContaining([expect.objectContaining({
      type: 'Warning', reason: 'SharedApplyFailed', involvedObject: expect.objectContaining({ kind: 'Gateway' }),
    })]));
    // Refused writes are not counted as writes.
    const writes = await c.manager.metrics.objectWrites.get();
    expect(writes.values.find((v) => v.labels.controller === 'Shared')?.value ?? 0).toBe(0);
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
