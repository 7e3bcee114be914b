/**
 * Faults of the control plane itself, on a control plane of this file's own (the shared one serves the
 * other tests): kube-apiserver killed with SIGKILL and restarted during a storm of 120 CR creates and 40
 * updates, then etcd stopped (SIGSTOP) for 10 s under updates and continued. After each, every CR
 * converges, and a controller that looks at every CR again writes nothing.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../../controller/kube/kube-client.js';
import { TestController, startController } from '../../env/controller.js';
import { eventually } from '../../env/kube.js';
import { ControlPlane, startTestCluster } from '../../env/test-cluster.js';
import { FAULT_TIMEOUT, StormCr, createCr, notConverged, persist, scaleCr, storm, stormCrs, versions } from '../helpers.js';

const NS = 'faults';
let cp: ControlPlane;
let kc: KubeConfig;
let kube: KubeClient;
let controller: TestController | undefined;

beforeAll(async () => {
  cp = await startTestCluster();
  kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  kube = new KubeClient(kc);
  await kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  controller = await startController(NS, { kubeConfig: kc });
}, FAULT_TIMEOUT);

afterAll(async () => {
  await controller?.stop();
  kube?.close();
  await cp?.stop();
}, FAULT_TIMEOUT);

async function reconciles(c: TestController): Promise<number> {
  const text = await c.manager.metrics.registry.getSingleMetricAsString('controller_runtime_reconcile_total');
  return [...text.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

/** Every CR converges; then a fresh controller reconciles each of them again and writes nothing. */
async function expectConvergedAndQuiet(crs: readonly StormCr[]): Promise<void> {
  await eventually(async () => expect(await notConverged(kube, NS, crs)).toEqual([]), { timeoutMs: FAULT_TIMEOUT, intervalMs: 1000 });
  const snapshot = await persist(() => versions(kube, NS));
  await controller!.stop();
  controller = await startController(NS, { kubeConfig: kc });
  const fresh = controller;
  await eventually(async () => expect(await reconciles(fresh)).toBeGreaterThanOrEqual(crs.length), { timeoutMs: FAULT_TIMEOUT });
  expect(fresh.client.counts.writes).toBe(0);
  expect(await versions(kube, NS)).toEqual(snapshot);
}

const crs = stormCrs(120);

test('kube-apiserver killed with SIGKILL during a storm of 120 creates and 40 updates', async () => {
  const ops = [
    ...crs.map((cr) => () => createCr(kube, NS, cr)),
    ...crs.filter((_, i) => i % 3 === 0).map((cr) => () => scaleCr(kube, NS, cr, 2)),
  ];
  await storm(ops, 8, 50, async () => {
    cp.signal('kube-apiserver', 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    await cp.restart('kube-apiserver');
  });
  await expectConvergedAndQuiet(crs);
}, FAULT_TIMEOUT * 3);

test('etcd stopped for 10 s while CRs change, then continued', async () => {
  const changed = crs.filter((_, i) => i % 4 === 1);
  cp.signal('etcd', 'SIGSTOP');
  try {
    const updates = Promise.all(changed.map((cr) => scaleCr(kube, NS, cr, 3)));
    await new Promise((r) => setTimeout(r, 10_000));
    cp.signal('etcd', 'SIGCONT');
    await updates;
  } finally {
    cp.signal('etcd', 'SIGCONT');
  }
  await expectConvergedAndQuiet(crs);
}, FAULT_TIMEOUT * 3);
