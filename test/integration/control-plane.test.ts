/**
 * The test control plane behaves like a cluster: schemas reject bad custom resources, the garbage collector and
 * the Deployment controller run, server-side apply is idempotent, and marked-ready pods become ready endpoints.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, type KubernetesObject,
} from '@kubernetes/client-node';
import {
  apiErrorCode, deleteNamespace, describeApiError, eventually, kubeConfig, markPodsReady, newNamespace,
  TEST_FIELD_MANAGER, TEST_NODE_NAME,
} from '../env/kube.js';

const TIMEOUT_MS = 60_000;

type Obj = Record<string, any>;

let ns: string;
beforeAll(async () => { ns = await newNamespace('control-plane'); });
afterAll(async () => { await deleteNamespace(ns); });

/** Creates a namespaced custom object; returns the API error (code and message), or undefined on success. */
async function createCustom(obj: Obj): Promise<{ code?: number; message: string } | undefined> {
  const [group, version] = String(obj.apiVersion).split('/');
  const plural = `${String(obj.kind).toLowerCase()}s`;
  try {
    await kubeConfig().makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group, version, namespace: ns, plural, body: obj,
    });
    return undefined;
  } catch (err) {
    return { code: apiErrorCode(err), message: describeApiError(err) };
  }
}

/** A deep copy of `base` named `name` with `edit` applied. */
function variant(base: Obj, name: string, edit: (o: Obj) => void = () => undefined): Obj {
  const copy = structuredClone(base);
  copy.metadata = { name };
  edit(copy);
  return copy;
}

const gateway: Obj = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  spec: { gatewayClassName: 'agentway', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
};
const httpRoute: Obj = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
  spec: {
    parentRefs: [{ name: 'gw' }],
    hostnames: ['api.example.com'],
    rules: [{
      matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
      backendRefs: [{ name: 'svc', port: 8000 }],
    }],
  },
};
const agent: Obj = {
  apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent',
  spec: { image: 'ghcr.io/acme/agent:1.4' },
};

describe('schema validation of custom resources', () => {
  test.each([
    ['Gateway', gateway],
    ['HTTPRoute', httpRoute],
    ['Agent', agent],
  ])('a valid %s is accepted', async (kind, base) => {
    expect(await createCustom(variant(base, `valid-${kind.toLowerCase()}`))).toBeUndefined();
  }, TIMEOUT_MS);

  // 1.20 names list items without their index: `spec.rules.matches.path.type`.
  const invalid: Array<[string, Obj, string]> = [
    ['Gateway without gatewayClassName', variant(gateway, 'no-class', (o) => { delete o.spec.gatewayClassName; }),
      'spec.gatewayClassName'],
    ['Gateway listener port 70000', variant(gateway, 'big-port', (o) => { o.spec.listeners[0].port = 70000; }),
      'spec.listeners.port'],
    ['Gateway listener port as a string', variant(gateway, 'string-port', (o) => { o.spec.listeners[0].port = 'eighty'; }),
      'spec.listeners.port'],
    ['HTTPRoute path match type outside the enum', variant(httpRoute, 'bad-enum', (o) => { o.spec.rules[0].matches[0].path.type = 'Glob'; }),
      'spec.rules.matches.path.type'],
    ['HTTPRoute backend port 0', variant(httpRoute, 'port-zero', (o) => { o.spec.rules[0].backendRefs[0].port = 0; }),
      'spec.rules.backendRefs.port'],
    ['HTTPRoute parentRef without name', variant(httpRoute, 'no-parent-name', (o) => { o.spec.parentRefs = [{ kind: 'Gateway' }]; }),
      'spec.parentRefs.name'],
    ['HTTPRoute hostname not a DNS name', variant(httpRoute, 'bad-host', (o) => { o.spec.hostnames = ['Not_A_Host!']; }),
      'spec.hostnames'],
    ['Agent without spec.image', variant(agent, 'no-image', (o) => { o.spec = { replicas: 1 }; }), 'spec.image'],
    ['Agent with replicas -1', variant(agent, 'negative-replicas', (o) => { o.spec.replicas = -1; }), 'spec.replicas'],
    ['Agent with gpu -1', variant(agent, 'negative-gpu', (o) => { o.spec.resources = { gpu: -1 }; }), 'spec.resources.gpu'],
    ['Agent with timeout "5 minutes"', variant(agent, 'bad-timeout', (o) => { o.spec.gatewayRoute = { timeout: '5 minutes' }; }),
      'spec.gatewayRoute.timeout'],
  ];

  test.each(invalid)('%s is rejected with 422 naming the field', async (_title, obj, field) => {
    const error = await createCustom(obj);
    expect(error).toBeDefined();
    expect(error!.code).toBe(422);
    expect(error!.message).toContain(field);
  }, TIMEOUT_MS);
});

describe('kube-controller-manager', () => {
  test('deleting an owner garbage-collects its Deployment and that ReplicaSet', async () => {
    const kc = kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('owned', { app: 'owned' }, 1, [{
      apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!,
    }]) });

    const replicaSet = await eventually(async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=owned' });
      expect(list.items).toHaveLength(1);
      return list.items[0];
    });
    expect(replicaSet.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'owned', controller: true });

    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns });
    await eventually(async () => {
      const deployments = await apps.listNamespacedDeployment({ namespace: ns, labelSelector: 'app=owned' });
      const replicaSets = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: 'app=owned' });
      expect(deployments.items.map((d) => d.metadata?.name)).toEqual([]);
      expect(replicaSets.items.map((r) => r.metadata?.name)).toEqual([]);
    });
  }, TIMEOUT_MS);

  test('marked-ready pods become ready EndpointSlice endpoints, and leave when deleted', async () => {
    const kc = kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', { app: 'web' }, 2) });
    await core.createNamespacedService({ namespace: ns, body: {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    } });

    // Pending pods without an IP are not endpoints yet.
    await eventually(async () => expect(await endpointsOf('web')).toEqual([]));

    const pods = await eventually(async () => {
      const marked = await markPodsReady(ns, { app: 'web' });
      expect(marked).toHaveLength(2);
      return marked;
    });
    expect(pods.map((p) => p.spec?.nodeName)).toEqual([TEST_NODE_NAME, TEST_NODE_NAME]);
    const podIPs = pods.map((p) => p.status!.podIP!).sort();

    await eventually(async () => {
      const endpoints = await endpointsOf('web');
      expect(endpoints.map((e) => e.addresses[0]).sort()).toEqual(podIPs);
      expect(endpoints.map((e) => e.conditions?.ready)).toEqual([true, true]);
    });
    await eventually(async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      expect(d.status?.readyReplicas).toBe(2);
      expect(d.status?.availableReplicas).toBe(2);
    });

    await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns });
    await eventually(async () => {
      const left = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
      expect(left.items.map((p) => p.metadata?.name)).toEqual([]);
      expect(await endpointsOf('web')).toEqual([]);
    });
  }, TIMEOUT_MS);
});

describe('server-side apply', () => {
  const apply = (obj: Obj) => {
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig());
    const spec = { ...obj, metadata: { ...obj.metadata, namespace: ns } } as KubernetesObject;
    return objects.patch(spec, undefined, undefined, TEST_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  };
  // Both applies straddle a second boundary, so the result does not depend on how fast the machine is.
  const pastNextSecond = () => new Promise((resolve) => setTimeout(resolve, 1100));

  test('applying the same ConfigMap twice leaves its resourceVersion unchanged', async () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '1' } };
    const first = await apply(obj);
    await pastNextSecond();
    const second = await apply(obj);
    expect(first.metadata?.resourceVersion).toBeTruthy();
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.metadata?.managedFields?.map((f) => f.manager)).toEqual([TEST_FIELD_MANAGER]);
    expect(second).toMatchObject({ ...obj, metadata: { name: obj.metadata.name } });
  }, TIMEOUT_MS);

  // kube-apiserver 1.20 rewrites the managedFields timestamp of a custom resource on a no-op apply made in a
  // later second, which bumps its resourceVersion (later releases do not). This is why the controller sends no
  // apply for an object whose live copy already holds every rendered field: re-applying is not free here.
  test('applying the same HTTPRoute twice changes neither its generation nor its spec', async () => {
    const obj = variant(httpRoute, 'applied');
    const first = await apply(obj);
    await pastNextSecond();
    const second = await apply(obj);
    expect(first.metadata?.generation).toBe(1);
    expect(second.metadata?.generation).toBe(1);
    expect(second.metadata?.managedFields?.map((f) => f.manager)).toEqual([TEST_FIELD_MANAGER]);
    expect((second as Obj).spec).toEqual((first as Obj).spec);
    expect(second).toMatchObject({ ...obj, metadata: { name: obj.metadata.name } });
  }, TIMEOUT_MS);
});

describe('installed CRDs', () => {
  test('keep their x-kubernetes-* schema extensions', async () => {
    const api = kubeConfig().makeApiClient(ApiextensionsV1Api);
    const schema = async (name: string) =>
      (await api.readCustomResourceDefinition({ name })).spec.versions.find((v) => v.storage)!.schema!.openAPIV3Schema!;
    const gatewaySpec = (await schema('gateways.gateway.networking.k8s.io')).properties!.spec;
    expect(gatewaySpec.properties!.listeners).toMatchObject({ x_kubernetes_list_type: 'map', x_kubernetes_list_map_keys: ['name'] });
    const agentSpec = (await schema('agents.agentway.dev')).properties!.spec;
    expect(agentSpec.properties!.resources.properties!.cpu.x_kubernetes_int_or_string).toBe(true);
  }, TIMEOUT_MS);
});

function deployment(name: string, labels: Record<string, string>, replicas: number, ownerReferences?: Obj[]): Obj {
  return {
    metadata: { name, labels, ...(ownerReferences ? { ownerReferences } : {}) },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'main', image: 'registry.example/web:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

interface SliceEndpoint { addresses: string[]; conditions?: { ready?: boolean } }

/** Endpoints of every EndpointSlice of a Service (discovery.k8s.io/v1beta1: 1.20 has no v1). */
async function endpointsOf(service: string): Promise<SliceEndpoint[]> {
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig());
  const slices = await objects.list<KubernetesObject & { endpoints?: SliceEndpoint[] | null }>(
    'discovery.k8s.io/v1beta1', 'EndpointSlice', ns,
    undefined, undefined, undefined, undefined, `kubernetes.io/service-name=${service}`);
  expect(slices.items.length).toBeGreaterThan(0);
  return slices.items.flatMap((s) => s.endpoints ?? []);
}
