/**
 * What the informer caches keep of a live object. Of a child: the fields our field manager applied (read from its
 * managedFields), the identity, and the status reconcile reads; and that what render produces still
 * compares as applied against that.
 */
import { describe, expect, test } from '@jest/globals';
import { FieldSet, fieldsAppliedBy, projectFields, unionFields } from '../../controller/kube/managed-fields.js';
import { isSubset, withOwnership } from '../../controller/reconciler/apply.js';
import { slimChild } from '../../controller/reconciler/child-cache.js';
import { LAST_APPLIED_ANNOTATION, withoutBookkeeping } from '../../controller/kube/informer.js';
import { KubeObject } from '../../manifests/api.js';
import { render } from '../../manifests/render.js';
import { liveDeployment, liveHttpRoute } from '../data/live-children.js';
import { Json, env, modelApi } from './fixtures.js';

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

  test('keyed list elements are found by their key, in live order, with their key fields', () => {
    const ports = [
      { containerPort: 9090, protocol: 'TCP', name: 'metrics' },
      { containerPort: 8000, protocol: 'UDP', name: 'other' },
      { containerPort: 8000, protocol: 'TCP', name: 'http', hostPort: 80 },
    ];
    const set = {
      'k:{"containerPort":8000,"protocol":"TCP"}': { '.': {}, 'f:name': {} },
      'k:{"containerPort":9090,"protocol":"TCP"}': { '.': {} },
    };
    expect(projectFields(ports, set)).toEqual([
      { containerPort: 9090, protocol: 'TCP' },
      { containerPort: 8000, protocol: 'TCP', name: 'http' },
    ]);
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

  test('a Deployment keeps what was applied, its identity and ready replicas, and drops the rest', () => {
    const slim: Json = deployment();
    expect(slim.metadata).toEqual({
      name: 'modelapi-llm-00000-cpu', namespace: liveDeployment.metadata.namespace, uid: liveDeployment.metadata.uid,
      resourceVersion: liveDeployment.metadata.resourceVersion, generation: 1,
      labels: liveDeployment.metadata.labels, ownerReferences: liveDeployment.metadata.ownerReferences,
    });
    expect(slim.status).toEqual({ readyReplicas: 2 });
    const pod = slim.spec.template.spec;
    expect(pod.containers[0].image).toBe('vllm/vllm-openai:v0.6.3');
    expect(pod.containers[0].ports).toEqual([{ containerPort: 8000, name: 'http', protocol: 'TCP' }]);
    // Server defaults nobody applied.
    expect(pod.dnsPolicy).toBeUndefined();
    expect(pod.containers[0].terminationMessagePath).toBeUndefined();
    expect(slim.spec.strategy).toBeUndefined();
    expect(slim.spec.selector).toEqual(liveDeployment.spec.selector);
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(liveDeployment).length / 2);
  });

  test('what render produces for the CR compares as applied; a drifted field of ours does not', () => {
    const cr = modelApi({
      args: ['--model', 'meta-llama/model-0'], models: ['model-0'], port: 8000, ownedBy: 'vllm', health: { path: '/health' },
      gatewayRoute: { enabled: true, timeout: '300s' },
      pools: [
        { name: 'gpu', replicas: 0, nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' }, resources: { cpu: '8', memory: '64Gi', gpu: 1 } },
        { name: 'cpu', replicas: 0, resources: { cpu: '4', memory: '16Gi' } },
      ],
    }, 'llm-00000', liveDeployment.metadata.namespace);
    (cr.metadata as Json).uid = liveDeployment.metadata.ownerReferences[0].uid;
    const { objects, errors } = render(cr, env({ gateway: { namespace: liveDeployment.metadata.namespace } }));
    expect(errors).toEqual([]);
    const desired = withOwnership(objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'modelapi-llm-00000-cpu')!, cr as never);
    expect(isSubset(desired, deployment())).toBe(true);

    const drifted = copy(liveDeployment) as Json;
    drifted.spec.template.spec.containers[0].image = 'vllm/vllm-openai:latest';
    expect(isSubset(desired, slimChild(drifted))).toBe(false);
    // Fields only others set are not ours to compare: an injected sidecar or a changed default.
    const others = copy(liveDeployment) as Json;
    others.spec.template.spec.containers.push({ name: 'sidecar', image: 'proxy:1' });
    others.spec.template.spec.dnsPolicy = 'Default';
    expect(isSubset(desired, slimChild(others))).toBe(true);
  });

  test('an object our manager never applied keeps only its identity, and so compares as not applied', () => {
    const foreign = copy(liveDeployment) as Json;
    foreign.metadata.managedFields = foreign.metadata.managedFields.filter((e: Json) => e.manager !== 'agentway');
    const slim: Json = slimChild(foreign);
    expect(slim.spec).toBeUndefined();
    expect(isSubset({ spec: { replicas: 0 } }, slim)).toBe(false);
  });

  test("an HTTPRoute keeps each parent's Accepted condition", () => {
    const slim: Json = slimChild(copy(liveHttpRoute) as KubeObject);
    expect(slim.spec).toEqual(liveHttpRoute.spec);
    expect(slim.status.parents).toEqual([{
      parentRef: liveHttpRoute.status.parents[0].parentRef,
      conditions: [liveHttpRoute.status.parents[0].conditions[0]],
    }]);
    expect(slim.metadata.managedFields).toBeUndefined();
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
