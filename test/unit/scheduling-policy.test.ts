/** The opt-in scheduling policy: tolerations and nodeSelectors outside the allow-list are errors at their paths. */
import { describe, expect, test } from '@jest/globals';
import { SchedulingPolicy } from '../../manifests/scheduling-policy.js';
import { render } from '../../manifests/render.js';
import { CR, agent, clientInstance, clientPool, env, modelApi, testEnv } from './fixtures.js';

const withPolicy = (policy: SchedulingPolicy, extra = {}) => env({ policy }, extra);
const paths = (cr: CR, policy: SchedulingPolicy) => render(cr, withPolicy(policy)).errors.map((e) => e.path);
const controlPlane = { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' };

describe('scheduling policy', () => {
  test('without a policy any toleration and nodeSelector renders', () => {
    expect(render(agent({ tolerations: [{ operator: 'Exists' }], nodeSelector: { 'node-role.kubernetes.io/control-plane': '' } }), testEnv).errors).toEqual([]);
  });

  test('a toleration of a taint outside the allow-list is refused at its path, and nothing renders', () => {
    const cr = agent({ tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }, controlPlane] });
    const result = render(cr, withPolicy({ tolerationKeys: ['nvidia.com/gpu'] }));
    expect([result.errors, result.objects]).toEqual([[{
      path: 'spec.tolerations[1]',
      message: 'a toleration of taint "node-role.kubernetes.io/control-plane" is not allowed by the controller\'s policy; allowed taint keys: nvidia.com/gpu',
    }], []]);
  });

  test('a toleration of every taint (operator Exists, no key) is refused whatever the list', () => {
    expect(paths(agent({ tolerations: [{ operator: 'Exists' }] }), { tolerationKeys: ['nvidia.com/gpu'] })).toEqual(['spec.tolerations[0]']);
  });

  test('the toleration of a pool is checked at the pool path', () => {
    expect(paths(modelApi({ pools: [{ name: 'a' }, { name: 'b', tolerations: [controlPlane] }] }), { tolerationKeys: [] })).toEqual(['spec.pools[1].tolerations[0]']);
  });

  test('a nodeSelector label outside the allow-list is refused; key and key=value entries allow', () => {
    const policy = { nodeSelectors: ['topology.kubernetes.io/zone', 'gpu=a100'] };
    expect(paths(agent({ nodeSelector: { 'topology.kubernetes.io/zone': 'eu-1', gpu: 'a100' } }), policy)).toEqual([]);
    expect(paths(agent({ nodeSelector: { gpu: 'h100', 'node-role.kubernetes.io/control-plane': '' } }), policy))
      .toEqual(['spec.nodeSelector.gpu', 'spec.nodeSelector.node-role.kubernetes.io/control-plane']);
  });

  test('a ClientPool template is checked, and so is the pool of a ClientInstance', () => {
    const pool = clientPool({ template: { image: 'ghcr.io/acme/sandbox:2.0', nodeSelector: { 'kubernetes.io/hostname': 'master' } } });
    const policy = { nodeSelectors: ['kubernetes.io/arch'] };
    expect(paths(pool, policy)).toEqual(['spec.template.nodeSelector.kubernetes.io/hostname']);
    const instance = render(clientInstance(), withPolicy(policy, { clientPool: pool as never }));
    expect(instance.errors).toEqual([{ path: 'spec.pool', message: expect.stringContaining('spec.template.nodeSelector.kubernetes.io/hostname') }]);
  });

  test('a policy on tolerations leaves nodeSelectors free, and the reverse', () => {
    const cr = agent({ tolerations: [controlPlane], nodeSelector: { any: 'thing' } });
    expect(paths(cr, { tolerationKeys: [controlPlane.key] })).toEqual([]);
    expect(paths(cr, { nodeSelectors: ['any'] })).toEqual([]);
  });
});
