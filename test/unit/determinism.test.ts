/**
 * Render and synthesize are deterministic: the same CRs give deep-equal objects and byte-identical files.
 */
import { renderConfig } from '../../manifests/config.js';
import { render, renderShared } from '../../manifests/render.js';
import { synthesize } from '../../manifests/synth.js';
import {
  CR, GPU_AND_CPU_POOLS, agent, clientInstance, clientPool, env, exampleDocuments, mcpServer, modelApi, testEnv,
} from './fixtures.js';

const CRS: Array<[string, CR]> = [
  ['Agent', agent({ modelAPI: 'llama', mcpServers: ['search'], env: [{ name: 'A', value: '1' }], health: { path: '/h' } })],
  ['ModelAPI with GPU and CPU pools', modelApi({ pools: GPU_AND_CPU_POOLS, gatewayRoute: { hostnames: ['ai.example.com'] } })],
  ['MCPServer', mcpServer({ tolerations: [{ key: 'k', operator: 'Exists' }], nodeSelector: { b: '2', a: '1' } })],
  ['ClientPool', clientPool()],
];

const renderEnv = env({}, { clientPool: clientPool() as never });

/** The objects of a render that must succeed: an empty or failed render would make every comparison pass. */
function objectsOf(cr: unknown, renderEnvironment = testEnv): readonly unknown[] {
  const { objects, errors } = render(cr, renderEnvironment);
  expect(errors).toEqual([]);
  expect(objects.length).toBeGreaterThan(0);
  return objects;
}

describe('render', () => {
  test.each(CRS)('renders a %s to deep-equal objects twice', (_, cr) => {
    expect(objectsOf(cr)).toEqual(objectsOf(cr));
  });

  test.each(CRS)('renders a %s to identical JSON text twice', (_, cr) => {
    expect(JSON.stringify(objectsOf(cr))).toBe(JSON.stringify(objectsOf(cr)));
  });

  test('renders a ClientInstance to identical JSON text twice', () => {
    expect(JSON.stringify(objectsOf(clientInstance(), renderEnv))).toBe(JSON.stringify(objectsOf(clientInstance(), renderEnv)));
  });

  test('renders the shared objects to identical JSON text twice', () => {
    const shared = renderShared(renderConfig({ traefik: { enabled: true } }));
    expect(shared.map((o) => o.kind)).toEqual(expect.arrayContaining(['Gateway']));
    expect(JSON.stringify(renderShared(renderConfig({ traefik: { enabled: true } })))).toBe(JSON.stringify(shared));
  });

  test('the order of keys in the CR does not change the output text', () => {
    const reordered = { spec: { port: 8000, image: 'x:1', replicas: 2 }, metadata: { namespace: 'ai', name: 'research' }, kind: 'Agent', apiVersion: 'agentway.dev/v1alpha1' };
    expect(JSON.stringify(objectsOf(reordered))).toBe(JSON.stringify(objectsOf(agent({ image: 'x:1', replicas: 2, port: 8000 }))));
  });

  test('CDK8S_* environment variables do not leak into the output', () => {
    const before = JSON.stringify(objectsOf(agent()));
    process.env.CDK8S_RECORD_CONSTRUCT_METADATA = 'true';
    try {
      expect(JSON.stringify(objectsOf(agent()))).toBe(before);
    } finally {
      delete process.env.CDK8S_RECORD_CONSTRUCT_METADATA;
    }
  });
});

describe('synthesize', () => {
  const bytes = (files: ReadonlyMap<string, string>) => [...files.entries()];

  test('gives byte-identical files for the examples twice', () => {
    const first = synthesize(exampleDocuments(), renderConfig());
    expect(first.errors).toEqual([]);
    expect(first.files.size).toBeGreaterThan(0);
    expect(bytes(synthesize(exampleDocuments(), renderConfig()).files)).toEqual(bytes(first.files));
  });

  test('gives the same files whatever the order of the input documents', () => {
    const docs = exampleDocuments();
    expect(bytes(synthesize([...docs].reverse(), renderConfig()).files)).toEqual(bytes(synthesize(docs, renderConfig()).files));
  });
});
