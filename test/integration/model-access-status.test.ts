/**
 * ModelAccess status on the real control plane: Ready with observedGeneration once the router's read access
 * to the key Secret is in place, Ready=False with the reason and the field when it cannot be, written by
 * server-side apply on the status subresource under the controller's field manager.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { STATUS_MANAGERS } from '../../controller/kube/status-apply.js';
import { Scenarios, testClient } from '../env/controller.js';
import { eventually } from '../env/kube.js';
import { Obj, TestObjects, cond, pathOf } from '../env/objects.js';

const T = 90_000;
const scenarios = new Scenarios();
let kube: KubeClient;
let objects: TestObjects;

beforeAll(() => { kube = testClient(); objects = new TestObjects(kube); });
afterEach(() => scenarios.stopAll());
afterAll(async () => {
  await scenarios.deleteNamespaces();
  kube.close();
});

test('Ready=True with observedGeneration once the Role is applied; a new Secret name is a new generation, reported', async () => {
  const ns = await scenarios.namespace('maccess-ready');
  await scenarios.run(ns);
  await objects.create(ns, 'ModelAccess', 'apps', { apiKeys: { secretRef: { name: 'app-keys' } }, dataClass: 'internal' });
  await eventually(async () => {
    const a = await objects.mustGet('ModelAccess', ns, 'apps');
    expect(a.status?.observedGeneration).toBe(1);
    expect(cond(a, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: 1, message: 'the model router may read Secret "app-keys"' });
  }, { timeoutMs: T });
  const managers = (await objects.mustGet('ModelAccess', ns, 'apps')).metadata.managedFields
    .filter((m: Obj) => m.subresource === 'status' || m.fieldsV1?.['f:status']).map((m: Obj) => `${m.manager}/${m.operation}`);
  expect(managers).toEqual([`${STATUS_MANAGERS.controller}/Apply`]);

  await objects.patchSpec(ns, 'ModelAccess', 'apps', { apiKeys: { secretRef: { name: 'app-keys-2' } } });
  await eventually(async () => {
    const a = await objects.mustGet('ModelAccess', ns, 'apps');
    expect(a.status?.observedGeneration).toBe(2);
    expect(cond(a, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 2, message: 'the model router may read Secret "app-keys-2"' });
    expect((await objects.mustGet('Role', ns, 'modelaccess-apps-api-keys')).rules[0].resourceNames).toEqual(['app-keys-2']);
  }, { timeoutMs: T });
}, 2 * T);

test('a spec the schema lets through but the controller refuses is Ready=False InvalidSpec at its field, with no Role', async () => {
  const ns = await scenarios.namespace('maccess-invalid');
  await scenarios.run(ns);
  await objects.create(ns, 'ModelAccess', 'dup', { apiKeys: { secretRef: { name: 'keys' } }, models: ['chat', 'chat'] });
  await eventually(async () => {
    const r = cond(await objects.mustGet('ModelAccess', ns, 'dup'), 'Ready');
    expect(r).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: 1 });
    expect(r!.message).toContain('spec.models[1]');
  }, { timeoutMs: T });
  expect(await objects.get('Role', ns, 'modelaccess-dup-api-keys')).toBeUndefined();
}, T);

test('a Role of that name controlled by another owner cannot be applied: Ready=False ApplyFailed, naming the Role and why', async () => {
  const ns = await scenarios.namespace('maccess-apply-failed');
  const owner = await kube.request('POST', pathOf('ConfigMap', ns), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'holder' } } });
  await kube.request('POST', pathOf('Role', ns), {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role',
      metadata: { name: 'modelaccess-apps-api-keys', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'holder', uid: owner.metadata.uid, controller: true }] },
      rules: [],
    },
  });
  await scenarios.run(ns);
  await objects.create(ns, 'ModelAccess', 'apps', { apiKeys: { secretRef: { name: 'app-keys' } } });
  // The API server refuses a second controller reference on the Role (422): waiting cannot fix it, a person can.
  const ready = await eventually(async () => {
    const r = cond(await objects.mustGet('ModelAccess', ns, 'apps'), 'Ready');
    expect(r).toMatchObject({ status: 'False', reason: 'ApplyFailed', observedGeneration: 1 });
    return r!;
  }, { timeoutMs: T });
  expect(ready.message).toContain('modelaccess-apps-api-keys');
  expect(ready.message).toContain('ownerReferences');
  const role = await objects.mustGet('Role', ns, 'modelaccess-apps-api-keys');
  expect(role.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ConfigMap', name: 'holder' })]);
  expect(role.rules ?? []).toEqual([]);
}, T);
