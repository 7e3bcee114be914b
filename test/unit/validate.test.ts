/**
 * Bad CRs: each one is refused with an error at the exact field path, and renders no objects.
 */
import { maxNameLength } from '../../manifests/crds.js';
import { render } from '../../manifests/render.js';
import { validateResource } from '../../manifests/validate.js';
import { CR, IMAGE, agent, clientInstance, clientPool, mcpServer, modelApi, resource, testEnv } from './fixtures.js';

const secretRef = { secretKeyRef: { name: 'keys', key: 'openai' } };

/** [what is wrong, the CR, the one path reported]. */
const BAD: Array<[string, CR, string]> = [
  ['a timeout that is not a duration ("5 minutes")', agent({ gatewayRoute: { timeout: '5 minutes' } }), 'spec.gatewayRoute.timeout'],
  ['a negative gpu count', modelApi({ resources: { gpu: -1 } }), 'spec.resources.gpu'],
  ['a fractional gpu count', modelApi({ resources: { gpu: 0.5 } }), 'spec.resources.gpu'],
  ['a negative gpu count in a pool', modelApi({ pools: [{ name: 'a' }, { name: 'b', resources: { gpu: -2 } }] }), 'spec.pools[1].resources.gpu'],
  ['a metadata.name too long for {segment}-{name}', modelApi({}, 'm'.repeat(maxNameLength('ModelAPI') + 1)), 'metadata.name'],
  ['a pool whose {segment}-{name}-{pool} is longer than 63', modelApi({ pools: [{ name: 'cpu' }, { name: 'p'.repeat(20) }] }, 'm'.repeat(40)), 'spec.pools[1].name'],
  ['a pool name longer than 20 characters', modelApi({ pools: [{ name: 'p'.repeat(21) }] }), 'spec.pools[0].name'],
  ['two pools of the same name', modelApi({ pools: [{ name: 'a100' }, { name: 'cpu' }, { name: 'a100' }] }), 'spec.pools[2].name'],
  ['an empty pools list', modelApi({ pools: [] }), 'spec.pools'],
  ['a pool without a name', modelApi({ pools: [{ replicas: 1 }] }), 'spec.pools[0].name'],
  ['a missing image', resource('MCPServer', 'search', { port: 3000 }), 'spec.image'],
  ['an empty image', agent({ image: '' }), 'spec.image'],
  ['a missing spec', { apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent', metadata: { name: 'research' } }, 'spec'],
  ['an unknown kind', { ...agent(), kind: 'Agnet' }, 'kind'],
  ['a missing kind', { ...agent(), kind: undefined as unknown as string }, 'kind'],
  ['a wrong apiVersion', { ...agent(), apiVersion: 'agentway.dev/v1' }, 'apiVersion'],
  ['a missing metadata.name', { ...agent(), metadata: { namespace: 'ai' } }, 'metadata.name'],
  ['an upper-case metadata.name', agent({}, 'Research'), 'metadata.name'],
  ['replicas -1', agent({ replicas: -1 }), 'spec.replicas'],
  ['replicas as a string', agent({ replicas: '2' }), 'spec.replicas'],
  ['pool replicas -1', modelApi({ pools: [{ name: 'a', replicas: -1 }] }), 'spec.pools[0].replicas'],
  ['port 70000', agent({ port: 70000 }), 'spec.port'],
  ['port 0', mcpServer({ port: 0 }), 'spec.port'],
  ['a quantity that is not one ("lots")', agent({ resources: { cpu: 'lots' } }), 'spec.resources.cpu'],
  ['a negative memory quantity', agent({ resources: { memory: -1 } }), 'spec.resources.memory'],
  ['a pool name that is not a DNS label ("GPU_pool")', modelApi({ pools: [{ name: 'cpu' }, { name: 'GPU_pool' }] }), 'spec.pools[1].name'],
  ['an unknown field (typo "replica")', agent({ replica: 2 }), 'spec.replica'],
  ['an unknown field in a pool', modelApi({ pools: [{ name: 'a', replica: 2 }] }), 'spec.pools[0].replica'],
  ['an unknown field in gatewayRoute', agent({ gatewayRoute: { timeOut: '10s' } }), 'spec.gatewayRoute.timeOut'],
  ['an env variable with value and valueFrom', agent({ env: [{ name: 'A', value: '1' }, { name: 'KEY', value: 'x', valueFrom: secretRef }] }), 'spec.env[1]'],
  ['an env variable without a name', agent({ env: [{ value: 'x' }] }), 'spec.env[0].name'],
  ['two env variables of the same name', mcpServer({ env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] }), 'spec.env[1].name'],
  ['a secretKeyRef without a key', mcpServer({ env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'keys' } } }] }), 'spec.env[0].valueFrom.secretKeyRef.key'],
  ['the reserved MODEL_API_URL on an Agent', agent({ env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'MODEL_API_URL', value: 'http://x' }] }), 'spec.env[1].name'],
  ['the reserved MCP_SERVERS on an Agent', agent({ env: [{ name: 'MCP_SERVERS', value: '[]' }] }), 'spec.env[0].name'],
  ['maxInstancesPerClient > maxInstances', clientPool({ maxInstancesPerClient: 5, maxInstances: 2 }), 'spec.maxInstancesPerClient'],
  ['maxInstances 0', clientPool({ maxInstances: 0 }), 'spec.maxInstances'],
  ['an idleTimeout that is not a duration', clientPool({ idleTimeout: 'forever' }), 'spec.idleTimeout'],
  ['a ClientPool without apiKeys', { ...clientPool(), spec: { template: { image: IMAGE } } }, 'spec.apiKeys'],
  ['a pools field in a ClientPool template', clientPool({ template: { image: IMAGE, pools: [{ name: 'a' }] } }), 'spec.template.pools'],
  ['two env variables of the same name in a ClientPool template', clientPool({ template: { image: IMAGE, env: [{ name: 'A' }, { name: 'A' }] } }), 'spec.template.env[1].name'],
  ['a capacity.source outside the enum', modelApi({ capacity: { source: 'prometheus' } }), 'spec.capacity.source'],
  ['a capacity.metric outside the enum', modelApi({ capacity: { source: 'endpoint', metric: 'tokens' } }), 'spec.capacity.metric'],
  ['capacity.intervalSeconds 0', modelApi({ capacity: { intervalSeconds: 0 } }), 'spec.capacity.intervalSeconds'],
  ['a capacity.path without a leading slash', modelApi({ capacity: { source: 'endpoint', path: 'capacity' } }), 'spec.capacity.path'],
  ['a modelAPI reference that is not a name ("Llama_3")', agent({ modelAPI: 'Llama_3' }), 'spec.modelAPI'],
  ['an mcpServers reference that is not a name', agent({ mcpServers: ['search', 'Files'] }), 'spec.mcpServers[1]'],
  ['a hostname that is not one', agent({ gatewayRoute: { hostnames: ['ai.example.com', 'bad_host'] } }), 'spec.gatewayRoute.hostnames[1]'],
  ['gatewayRoute.enabled as a string', agent({ gatewayRoute: { enabled: 'no' } }), 'spec.gatewayRoute.enabled'],
  ['a health path without a leading slash', agent({ health: { path: 'health' } }), 'spec.health.path'],
  ['a toleration operator outside the enum', agent({ tolerations: [{ key: 'a', operator: 'Maybe' }] }), 'spec.tolerations[0].operator'],
  ['a gpuResource that is not a resource name', modelApi({ resources: { gpu: 1, gpuResource: 'nvidia com/gpu' } }), 'spec.resources.gpuResource'],
  ['a nodeSelector value that is not a string', agent({ nodeSelector: { zone: 1 } }), 'spec.nodeSelector.zone'],
  ['a ClientInstance without its pool field', resource('ClientInstance', 'sandbox-acme-one', { client: 'acme', instance: 'one' }), 'spec.pool'],
  ['a ClientInstance with an instance id that is not a DNS label', clientInstance({ instance: 'One!' }), 'spec.instance'],
  ['a ClientInstance with a client id that is not a DNS label', clientInstance({ client: 'ACME' }), 'spec.client'],
];

describe('a bad CR', () => {
  test.each(BAD)('%s is reported at its path', (_, cr, path) => {
    expect(render(cr, testEnv).errors.map((e) => e.path)).toEqual([path]);
  });

  test.each(BAD)('%s renders no objects', (_, cr) => {
    expect(render(cr, testEnv).objects).toEqual([]);
  });

  test.each(BAD)('%s comes with a message', (_, cr) => {
    expect(render(cr, testEnv).errors[0].message).toMatch(/\S/);
  });
});

describe('error messages', () => {
  const messageOf = (cr: CR) => render(cr, testEnv).errors[0].message;

  test('a bad duration shows the value and the expected form', () => {
    expect(messageOf(agent({ gatewayRoute: { timeout: '5 minutes' } }))).toBe('must be a duration such as "30s", "5m" or "1h30m", got "5 minutes"');
  });

  test('a bad quantity shows the value', () => {
    expect(messageOf(agent({ resources: { cpu: 'lots' } }))).toContain('got "lots"');
  });

  test('a derived name that is too long names the derived name and its length', () => {
    const name = 'm'.repeat(40);
    expect(messageOf(modelApi({ pools: [{ name: 'p'.repeat(20) }] }, name))).toContain(`"modelapi-${name}-${'p'.repeat(20)}" is 70 characters`);
  });

  test('a duplicate pool points at the first one', () => {
    expect(messageOf(modelApi({ pools: [{ name: 'a' }, { name: 'a' }] }))).toBe('duplicate pool name "a" (also at spec.pools[0].name)');
  });

  test('an unknown field says so', () => {
    expect(messageOf(agent({ replica: 2 }))).toBe('unknown field');
  });

  test('an enum lists the allowed values', () => {
    expect(messageOf(modelApi({ capacity: { source: 'prometheus' } }))).toBe('must be one of replicas, endpoint, got "prometheus"');
  });
});

describe('validation', () => {
  test('collects every problem of a CR, not just the first', () => {
    const { errors } = render(agent({ replicas: -1, port: 70000, health: { path: 'x' } }), testEnv);
    expect(errors.map((e) => e.path).sort()).toEqual(['spec.health.path', 'spec.port', 'spec.replicas']);
  });

  test('collects every bad pool', () => {
    const { errors } = render(modelApi({ pools: [{ name: 'A' }, { name: 'ok', replicas: -1 }, { name: 'b_c' }] }), testEnv);
    expect(errors.map((e) => e.path)).toEqual(['spec.pools[0].name', 'spec.pools[1].replicas', 'spec.pools[2].name']);
  });

  test.each([
    ['Agent', agent],
    ['ModelAPI', modelApi],
    ['MCPServer', mcpServer],
    ['ClientPool', clientPool],
  ] as const)('a %s name of the longest allowed length renders', (kind, build) => {
    const name = 'n'.repeat(maxNameLength(kind));
    expect(render(build({}, name), testEnv).errors).toEqual([]);
  });

  test('the longest allowed names leave {segment}-{name} at 63 characters', () => {
    const { objects } = render(agent({}, 'n'.repeat(maxNameLength('Agent'))), testEnv);
    expect(objects.map((o) => o.metadata.name.length)).toEqual([63, 63, 63]);
  });

  test('a pool whose derived name is exactly 63 characters renders', () => {
    const name = 'm'.repeat(63 - 'modelapi-'.length - '-pool'.length);
    expect(render(modelApi({ pools: [{ name: 'pool' }] }, name), testEnv).errors).toEqual([]);
  });

  test('a pool whose derived name is 64 characters is refused', () => {
    const name = 'm'.repeat(64 - 'modelapi-'.length - '-pool'.length);
    expect(render(modelApi({ pools: [{ name: 'pool' }] }, name), testEnv).errors.map((e) => e.path)).toEqual(['spec.pools[0].name']);
  });

  test('an env variable with only valueFrom is fine', () => {
    expect(render(agent({ env: [{ name: 'KEY', valueFrom: secretRef }] }), testEnv).errors).toEqual([]);
  });

  test('MODEL_API_URL is reserved on Agents only', () => {
    expect(render(mcpServer({ env: [{ name: 'MODEL_API_URL', value: 'http://x' }] }), testEnv).errors).toEqual([]);
  });

  test('maxInstancesPerClient equal to maxInstances is fine', () => {
    expect(render(clientPool({ maxInstancesPerClient: 5, maxInstances: 5 }), testEnv).errors).toEqual([]);
  });

  test('a non-object input is reported, not thrown', () => {
    expect(validateResource('Agent').errors).toEqual([{ path: '', message: 'must be an object' }]);
  });

  test('an input of another API group is refused at apiVersion', () => {
    expect(validateResource({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }).errors.map((e) => e.path)).toEqual(['apiVersion']);
  });

  test('a valid CR comes back with defaults and no errors', () => {
    const { resource: cr, errors } = validateResource(clientPool());
    expect([errors, cr?.spec]).toEqual([[], expect.objectContaining({ idleTimeout: '30m', maxInstancesPerClient: 3, maxInstances: 100, gatewayRoute: { enabled: true } })]);
  });

  test('status is not validated: what the controller wrote never blocks a render', () => {
    expect(render({ ...agent(), status: { conditions: 'garbage' } }, testEnv).errors).toEqual([]);
  });
});
