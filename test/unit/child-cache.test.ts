/**
 * What the informer caches keep of a live object. Of a child: a digest of the fields our field manager applied (read from its
 * managedFields), the identity, and the status reconcile reads; and that what render produces still
 * compares as applied against that.
 */
import { describe, expect, test } from '@jest/globals';
import { FieldSet, fieldsAppliedBy, projectFields, unionFields } from '../../controller/kube/managed-fields.js';
import { withOwnership } from '../../controller/reconciler/apply.js';
import { PART_OF_LABEL, isApplied, slimChild } from '../../controller/reconciler/child-cache.js';
import { storedJson } from '../../controller/kube/stored-form.js';
import { LAST_APPLIED_ANNOTATION, withoutBookkeeping } from '../../controller/kube/informer.js';
import { KubeObject } from '../../manifests/api.js';
import { render } from '../../manifests/render.js';
import { liveDeployment, liveHttpRoute } from '../data/live-children.js';
import { Json, env, mcpServer, modelApi } from './fixtures.js';

const copy = <T>(o: T): T => structuredClone(o);

describe('fieldsAppliedBy', () => {
  const entry = (manager: string, operation: string, fieldsV1: FieldSet, subresource?: string) => ({ manager, operation, fieldsType: 'FieldsV1', fieldsV1, subresource });

  test("one manager's applied fields, not its updates, not a subresource's, not another manager's", () => {
    const managed = [
      entry('agentway', 'Apply', { 'f:spec': { 'f:replicas': {} } }),
      entry('agentway', 'Update', { 'f:spec': { 'f:paused': {} } }),
      entry('agentway', 'Apply', { 'f:status': { 'f:phase': {} } }, 'status'),
      entry('kubectl', 'Apply', { 'f:spec': { 'f:minReadySeconds': {} } }),
    ];
    expect(fieldsAppliedBy(managed, 'agentway')).toEqual({ 'f:spec': { 'f:replicas': {} } });
    expect(fieldsAppliedBy(managed, 'helm')).toBeUndefined();
    expect(fieldsAppliedBy(undefined, 'agentway')).toBeUndefined();
  });

  test('two applied entries of one manager are united', () => {
    expect(unionFields({ 'f:a': { 'f:b': {} } }, { 'f:a': { 'f:c': {} }, 'f:d': {} })).toEqual({ 'f:a': { 'f:b': {}, 'f:c': {} }, 'f:d': {} });
  });
});

describe('projectFields', () => {
  test('keeps the named fields of a map and drops the rest', () => {
    expect(projectFields({ a: 1, b: { c: 2, d: 3 }, e: 4 }, { 'f:a': {}, 'f:b': { 'f:c': {} }, 'f:x': {} })).toEqual({ a: 1, b: { c: 2 } });
  });

  test('an empty set keeps the whole value: an atomic list or map', () => {
    const value = { args: ['--a', '--b'], selector: { matchLabels: { app: 'x' } } };
    expect(projectFields(value, { 'f:args': {}, 'f:selector': {} })).toEqual(value);
  });

  test('keyed list elements are found by their key, in live order, with the fields the set names', () => {
    const ports = [
      { containerPort: 9090, protocol: 'TCP', name: 'metrics' },
      { containerPort: 8000, protocol: 'UDP', name: 'other' },
      { containerPort: 8000, protocol: 'TCP', name: 'http', hostPort: 80 },
    ];
    const set = {
      'k:{"containerPort":8000,"protocol":"TCP"}': { '.': {}, 'f:name': {} },
      'k:{"containerPort":9090,"protocol":"TCP"}': { '.': {} },
    };
    // What the manager sent: the key fields it sent too, not the ones the server defaulted.
    expect(projectFields(ports, set)).toEqual([{}, { name: 'http' }]);
  });

  test('set elements by value and list elements by index', () => {
    expect(projectFields(['a', 'b', 'c'], { 'v:"c"': {}, 'v:"a"': {} })).toEqual(['a', 'c']);
    expect(projectFields([{ x: 1, y: 2 }, { x: 3, y: 4 }], { 'i:1': { 'f:y': {} } })).toEqual([{ y: 4 }]);
  });

  test('a key that is not JSON names nothing', () => {
    expect(projectFields([{ name: 'a' }], { 'k:{name': {} })).toEqual([]);
  });
});

describe('slimChild', () => {
  const deployment = () => slimChild(copy(liveDeployment) as KubeObject);
  const ns = liveDeployment.metadata.namespace;

  /** What render produces for the CR the live Deployment was applied for, as apply would send it. */
  function desiredDeployment(change: (spec: Json) => void = () => {}): KubeObject {
    const spec: Json = {
      args: ['--model', 'meta-llama/model-0'], models: ['model-0'], port: 8000, ownedBy: 'vllm', health: { path: '/health' },
      gatewayRoute: { enabled: true, timeout: '300s' },
      pools: [
        { name: 'gpu', replicas: 0, nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' }, resources: { cpu: '8', memory: '64Gi', gpu: 1 } },
        { name: 'cpu', replicas: 0, resources: { cpu: '4', memory: '16Gi' } },
      ],
    };
    change(spec);
    const cr = modelApi(spec, 'llm-00000', ns);
    (cr.metadata as Json).uid = liveDeployment.metadata.ownerReferences[0].uid;
    const { objects, errors } = render(cr, env({ gateway: { namespace: ns } }));
    expect(errors).toEqual([]);
    return withOwnership(objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'modelapi-llm-00000-cpu')!, cr as never);
  }

  test('a Deployment keeps its identity, the part-of label, its controller, ready replicas and a digest, and nothing else', () => {
    const slim: Json = deployment();
    expect(slim.metadata).toEqual({
      name: 'modelapi-llm-00000-cpu', namespace: ns, uid: liveDeployment.metadata.uid, resourceVersion: liveDeployment.metadata.resourceVersion,
      labels: { [PART_OF_LABEL]: liveDeployment.metadata.labels[PART_OF_LABEL] },
      ownerReferences: [{ ...liveDeployment.metadata.ownerReferences[0], blockOwnerDeletion: undefined }],
    });
    expect(slim.status).toEqual({ readyReplicas: 2 });
    expect(slim.spec).toBeUndefined();
    expect(typeof slim.appliedDigest).toBe('string');
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(liveDeployment).length / 10);
  });

  test('what render produces for the CR compares as applied', () => {
    expect(isApplied(desiredDeployment(), deployment())).toBe(true);
  });

  test('a rendered change, a field of ours changed in the cluster, or a field we stopped rendering does not', () => {
    expect(isApplied(desiredDeployment((s) => { s.args = ['--model', 'other']; }), deployment())).toBe(false);

    const drifted = copy(liveDeployment) as Json;
    drifted.spec.template.spec.containers[0].image = 'vllm/vllm-openai:latest';
    expect(isApplied(desiredDeployment(), slimChild(drifted))).toBe(false);

    // The live object has a field of ours that render no longer produces: applying removes it.
    const extra = copy(liveDeployment) as Json;
    extra.spec.minReadySeconds = 5;
    extra.metadata.managedFields[0].fieldsV1['f:spec']['f:minReadySeconds'] = {};
    expect(isApplied(desiredDeployment(), slimChild(extra))).toBe(false);
  });

  test('fields only others set are not ours to compare: an injected sidecar, a changed default', () => {
    const others = copy(liveDeployment) as Json;
    others.spec.template.spec.containers.push({ name: 'sidecar', image: 'proxy:1' });
    others.spec.template.spec.dnsPolicy = 'Default';
    others.metadata.labels.team = 'a';
    expect(isApplied(desiredDeployment(), slimChild(others))).toBe(true);
  });

  test('a quantity compares as the server stores it', () => {
    const live = copy(liveDeployment) as Json;
    live.spec.template.spec.containers[0].resources.requests.cpu = '4000m';
    expect(isApplied(desiredDeployment(), slimChild(live))).toBe(true);
  });

  test('an object our manager never applied keeps only its identity, and so compares as not applied', () => {
    const foreign = copy(liveDeployment) as Json;
    foreign.metadata.managedFields = foreign.metadata.managedFields.filter((e: Json) => e.manager !== 'agentway');
    const slim: Json = slimChild(foreign);
    expect(slim.appliedDigest).toBeUndefined();
    expect(isApplied(desiredDeployment(), slim)).toBe(false);
  });

  test("an HTTPRoute keeps each parent's Accepted condition, and what render produces compares as applied", () => {
    const slim: Json = slimChild(copy(liveHttpRoute) as KubeObject);
    expect(slim.spec).toBeUndefined();
    expect(slim.status.parents).toEqual([{
      parentRef: liveHttpRoute.status.parents[0].parentRef,
      conditions: [liveHttpRoute.status.parents[0].conditions[0]],
    }]);
    expect(slim.metadata.managedFields).toBeUndefined();

    const routeNs = liveHttpRoute.metadata.namespace;
    const cr = mcpServer({ image: 'ghcr.io/acme/mcp-search:0.4', port: 3000, replicas: 0, resources: { cpu: '250m', memory: '256Mi' }, gatewayRoute: { timeout: '45s' } }, 'mcp-00000', routeNs);
    (cr.metadata as Json).uid = liveHttpRoute.metadata.ownerReferences[0].uid;
    const { objects } = render(cr, env({ gateway: { namespace: routeNs } }));
    const route = withOwnership(objects.find((o) => o.kind === 'HTTPRoute')!, cr as never);
    expect(isApplied(route, slim)).toBe(true);
  });
});

describe('storedJson', () => {
  test('sorted keys, no empty values, quantities by value, list order kept', () => {
    expect(storedJson({ b: [2, 1], a: '', c: {}, d: undefined, e: { limits: { cpu: '0.5', memory: '1Gi' } } }))
      .toBe(storedJson({ e: { limits: { memory: '1024Mi', cpu: '500m' } }, b: [2, 1] }));
    expect(storedJson({ b: [1, 2] })).not.toBe(storedJson({ b: [2, 1] }));
    expect(storedJson({ a: { b: '', c: [] }, d: 1 })).toBe(storedJson({ d: 1 }));
    expect(storedJson({ requests: { cpu: 2 } })).toBe(storedJson({ requests: { cpu: '2000m' } }));
    // Only under limits and requests is a string a quantity.
    expect(storedJson({ image: '1' })).not.toBe(storedJson({ image: '1000m' }));
  });
});

describe('withoutBookkeeping', () => {
  test("drops managedFields and kubectl's last-applied copy, and keeps every other annotation", () => {
    const cr = {
      apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent',
      metadata: {
        name: 'a', managedFields: [{ manager: 'kubectl' }],
        annotations: { [LAST_APPLIED_ANNOTATION]: '{"spec":{}}', 'agentway.dev/discover-at': '1' },
      },
      spec: { image: 'x' },
    };
    expect(withoutBookkeeping(cr)).toEqual({
      apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent', metadata: { name: 'a', annotations: { 'agentway.dev/discover-at': '1' } }, spec: { image: 'x' },
    });
    expect(withoutBookkeeping({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } } })).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } });
  });
});
