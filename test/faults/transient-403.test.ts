/**
 * The controller runs as its ServiceAccount with the installed RBAC; its ClusterRoleBinding is removed for a
 * while (every request is refused with 403) and restored. CRs created and changed meanwhile converge once
 * access is back, through the per-key retry with backoff that a 403 gets (the periodic resync is pushed past
 * the end of the test), and a controller then writes nothing to CRs that did not change.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { CONTROLLER_NAME } from '../../manifests/defaults.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { applyInstallRbac, kubeConfigWithToken, serviceAccountToken } from '../env/install-rbac.js';
import { deleteNamespace, eventually, newNamespace } from '../env/kube.js';
import { ignoreNotFound } from '../env/objects.js';
import { FAULT_TIMEOUT, createCr, notConverged, scaleCr, stormCrs, versions } from './helpers.js';

let kube: KubeClient;
let ns: string;
let clusterObjects: string[] = [];
let controller: TestController | undefined;

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('fault-403');
  clusterObjects = await applyInstallRbac(kube, ns);
}, FAULT_TIMEOUT);

afterAll(async () => {
  await controller?.stop();
  for (const p of clusterObjects) await kube.request('DELETE', p).catch(ignoreNotFound);
  await deleteNamespace(ns);
  kube.close();
});

test('a transient 403 on every request: CRs created and changed meanwhile converge once access is back', async () => {
  const kc = kubeConfigWithToken(await serviceAccountToken(kube, ns, CONTROLLER_NAME));
  const sa = new KubeClient(kc);
  await eventually(() => sa.request('GET', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/agents`), { timeoutMs: FAULT_TIMEOUT });
  // Nothing but the 403 retry may bring a refused CR back: the periodic resync comes after the test's end.
  controller = await startController(ns, { kubeConfig: kc, resyncMs: FAULT_TIMEOUT * 10 });
  const running = controller;
  const retries = async () => {
    const text = await running.manager.metrics.registry.getSingleMetricAsString('workqueue_retries_total');
    return [...text.matchAll(/^workqueue_retries_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  };

  const before = stormCrs(20, 'a');
  await Promise.all(before.map((cr) => createCr(kube, ns, cr)));
  await eventually(async () => expect(await notConverged(kube, ns, before)).toEqual([]), { timeoutMs: FAULT_TIMEOUT, intervalMs: 500 });

  // Access goes: the binding of the controller's ClusterRole is deleted.
  const binding = clusterObjects.find((p) => p.includes('/clusterrolebindings/agentway-controller-'))!;
  await kube.request('DELETE', binding);
  await eventually(async () => expect(await sa.request('GET', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/agents`).then(() => 200, (e) => e.status)).toBe(403), { timeoutMs: FAULT_TIMEOUT });
  const during = stormCrs(20, 'b');
  await Promise.all(during.map((cr) => createCr(kube, ns, cr)));
  await Promise.all(before.filter((_, i) => i % 2 === 0).map((cr) => scaleCr(kube, ns, cr, 3)));
  await new Promise((r) => setTimeout(r, 3000));
  const retriedBefore = await retries();
  // Refused keys keep coming back on their own while access is still gone.
  await eventually(async () => expect(await retries()).toBeGreaterThan(retriedBefore), { timeoutMs: FAULT_TIMEOUT });

  // Access comes back.
  clusterObjects = await applyInstallRbac(kube, ns);
  await eventually(async () => expect(await notConverged(kube, ns, [...before, ...during])).toEqual([]), { timeoutMs: FAULT_TIMEOUT, intervalMs: 500 });

  // Converged: a controller that looks at every CR again writes nothing.
  const snapshot = await versions(kube, ns);
  await controller.stop();
  controller = await startController(ns, { kubeConfig: kc });
  const fresh = controller;
  const reconciles = async () => {
    const text = await fresh.manager.metrics.registry.getSingleMetricAsString('controller_runtime_reconcile_total');
    return [...text.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  };
  await eventually(async () => expect(await reconciles()).toBeGreaterThanOrEqual(before.length + during.length), { timeoutMs: FAULT_TIMEOUT });
  expect(fresh.client.counts.writes).toBe(0);
  expect(await versions(kube, ns)).toEqual(snapshot);
  sa.close();
}, FAULT_TIMEOUT * 3);
