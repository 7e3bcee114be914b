/**
 * The controller process is killed with SIGKILL in the middle of a storm of CR creates and updates, and
 * started again: every CR converges, and a controller started once more over the converged namespace
 * writes nothing.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { testClient } from '../env/controller.js';
import { KUBECONFIG_ENV, deleteNamespace, eventually, newNamespace } from '../env/kube.js';
import { ControllerProcess, FAULT_TIMEOUT, createCr, notConverged, scaleCr, storm, stormCrs, versions } from './helpers.js';

let kube: KubeClient;
let ns: string;
const controllers: ControllerProcess[] = [];
const controller = () => {
  const c = new ControllerProcess(process.env[KUBECONFIG_ENV]!, ns);
  controllers.push(c);
  return c;
};

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('fault-ctl-kill');
});

afterAll(async () => {
  for (const c of controllers) await c.stop('SIGKILL');
  await deleteNamespace(ns);
  kube.close();
});

test('kill -9 of the controller during a storm: every CR converges, and a restart over them writes nothing', async () => {
  const crs = stormCrs(60);
  const first = controller();
  await first.start();
  const second = controller();
  const ops = [
    ...crs.map((cr) => () => createCr(kube, ns, cr)),
    ...crs.filter((_, i) => i % 3 === 0).map((cr) => () => scaleCr(kube, ns, cr, 2)),
  ];
  // Killed a third of the way through; the rest of the storm runs with no controller, until the new one is up.
  await storm(ops, 8, Math.floor(ops.length / 3), async () => {
    await first.stop('SIGKILL');
    await second.start();
  });

  await eventually(async () => expect(await notConverged(kube, ns, crs)).toEqual([]), { timeoutMs: FAULT_TIMEOUT, intervalMs: 500 });
  const before = await versions(kube, ns);
  await second.stop('SIGTERM');

  // A controller that starts over converged CRs reconciles each of them and writes nothing.
  const third = controller();
  await third.start();
  await eventually(async () => expect((await third.counters()).reconciles).toBeGreaterThanOrEqual(crs.length), { timeoutMs: FAULT_TIMEOUT });
  expect((await third.counters()).writes).toBe(0);
  expect(await versions(kube, ns)).toEqual(before);
}, FAULT_TIMEOUT * 2);
