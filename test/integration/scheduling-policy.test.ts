/** The controller with a scheduling policy: a CR asking for nodes outside it is InvalidSpec, with nothing applied. */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { deleteNamespace, eventually, newNamespace } from '../env/kube.js';
import { TestObjects, cond } from '../env/objects.js';

const T = 60_000;
let kube: KubeClient;
let objects: TestObjects;
let ns: string;
let controller: TestController;

beforeAll(async () => {
  kube = testClient();
  objects = new TestObjects(kube);
  ns = await newNamespace('policy');
  controller = await startController(ns, { config: { policy: { tolerationKeys: ['nvidia.com/gpu'], nodeSelectors: ['gpu'] } } });
}, T);

afterAll(async () => {
  await controller.stop();
  await deleteNamespace(ns);
  kube.close();
});

test('a toleration of the control plane is refused with InvalidSpec at its path; an allowed one is applied', async () => {
  await objects.create(ns, 'Agent', 'sneaky', {
    image: 'ghcr.io/acme/agent:1.2', tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
  });
  await objects.create(ns, 'Agent', 'gpu', {
    image: 'ghcr.io/acme/agent:1.2', tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }], nodeSelector: { gpu: 'a100' },
  });
  await eventually(async () => {
    expect(cond(await objects.get('Agent', ns, 'sneaky'), 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringContaining('spec.tolerations[0]') });
    await objects.mustGet('Deployment', ns, 'agent-gpu');
  }, { timeoutMs: T });
  expect(await objects.get('Deployment', ns, 'agent-sneaky')).toBeUndefined();
}, T);
