/**
 * The controller with its own ServiceAccount and only some of the rights it needs: a 403 is reported on the
 * CR and retried until the right is granted; a replica that may not touch its Lease says so in /readyz.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { Scenarios, testClient } from '../env/controller.js';
import { kubeConfigWithToken, serviceAccountToken } from '../env/install-rbac.js';
import { eventually } from '../env/kube.js';
import { Obj, TestObjects, cond } from '../env/objects.js';

const T = 90_000;
let kube: KubeClient;
let objects: TestObjects;
const scenarios = new Scenarios();

beforeAll(() => { kube = testClient(); objects = new TestObjects(kube); });
afterEach(() => scenarios.stopAll());
afterAll(async () => {
  await scenarios.deleteNamespaces();
  kube.close();
});

const ALL = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'];
const READ = ['get', 'list', 'watch'];

/** What a namespace-scoped controller needs in its namespace, with HTTPRoutes readable only when `routes` is false. */
function rules(routes: boolean): Obj[] {
  return [
    { apiGroups: ['agentway.dev'], resources: ['*'], verbs: ALL },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ALL },
    { apiGroups: [''], resources: ['services', 'pods', 'events', 'endpoints'], verbs: ALL },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ALL },
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['gateways', 'referencegrants'], verbs: ALL },
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: routes ? ALL : READ },
  ];
}

async function applyRole(ns: string, routes: boolean): Promise<void> {
  await kube.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/controller`, {
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'controller', namespace: ns }, rules: rules(routes) },
    contentType: 'application/apply-patch+yaml', query: { fieldManager: 'test', force: true },
  });
}

/** A ServiceAccount bound to the `controller` Role of `ns`, and a kubeconfig acting as it. */
async function controllerAccount(ns: string, routes: boolean) {
  await kube.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'controller' } } });
  await applyRole(ns, routes);
  await kube.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'controller' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'controller' },
      subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: ns }],
    },
  });
  return kubeConfigWithToken(await serviceAccountToken(kube, ns, 'controller'));
}

test('a 403 on apply is Ready=False naming it, and is retried until the right is granted', async () => {
  const ns = await scenarios.namespace('rbac-403');
  const kubeConfig = await controllerAccount(ns, false);
  await scenarios.run(ns, { kubeConfig });
  await objects.create(ns, 'Agent', 'a', { image: 'ghcr.io/acme/agent:1.2', port: 8000 });
  await eventually(async () => {
    const ready = cond(await objects.mustGet('Agent', ns, 'a'), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(ready!.message).toContain('HTTPRoute agent-a');
    expect(ready!.message).toContain('forbidden');
    // Which objects are live, and which are not.
    expect(ready!.message).toContain('live: Deployment agent-a, Service agent-a');
  }, { timeoutMs: T });

  // RBAC granted later (or loaded late by an API server that just restarted): no change to the CR is needed.
  await applyRole(ns, true);
  await eventually(() => objects.mustGet('HTTPRoute', ns, 'agent-a'), { timeoutMs: T });
  await eventually(async () => {
    expect(cond(await objects.mustGet('Agent', ns, 'a'), 'Ready')).toMatchObject({ status: 'False', reason: 'NoReadyBackends' });
  }, { timeoutMs: T });
}, T * 3);

test('a replica that may not read its Lease logs it, counts it and is not ready', async () => {
  const ns = await scenarios.namespace('rbac-lease');
  const kubeConfig = await controllerAccount(ns, true);
  const c = await scenarios.run(ns, { kubeConfig, leaderElection: { namespace: ns, name: 'agentway', retryPeriodMs: 200, leaseDurationMs: 2000, renewDeadlineMs: 1500 } });
  await eventually(async () => {
    const errors = await c.manager.metrics.leaseErrors.get();
    expect(errors.values.reduce((s, v) => s + v.value, 0)).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${c.manager.ports.probes}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/lease.*403.*forbidden/i);
  }, { timeoutMs: T });
  expect(c.manager.isLeader).toBe(false);
}, T * 2);
