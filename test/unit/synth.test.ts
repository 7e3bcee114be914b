/**
 * synthesize(): many CRs into one manifest file per CR plus the shared file.
 */
import { renderConfig } from '../../manifests/config.js';
import { render } from '../../manifests/render.js';
import { SHARED_FILE, formatSynthError, synthesize } from '../../manifests/synth.js';
import { toYaml } from '../../manifests/yaml.js';
import {
  Json, agent, clientInstance, clientPool, exampleDocuments, mcpServer, modelApi, objectsInYaml, sources, testEnv,
  withoutNamespace,
} from './fixtures.js';

const config = renderConfig();
const kindsIn = (text: string | undefined) => objectsInYaml(text ?? '').map((o) => `${o.kind}/${o.metadata.name}`);

describe('file layout', () => {
  test('the examples give one file per CR plus the shared file', () => {
    expect([...synthesize(exampleDocuments(), config).files.keys()]).toEqual([
      'ai.agent.research.yaml', 'ai.clientpool.sandbox.yaml', 'ai.mcpserver.search.yaml', 'ai.modelapi.llama.yaml',
      'ai.modelapi.llm-d-decode.yaml', 'ai.modelapi.qwen.yaml', 'ai.modelroute.llama-3-1-8b.yaml', SHARED_FILE,
    ]);
  });

  test('a CR file holds exactly the objects render returns for that CR', () => {
    const { files } = synthesize(sources(modelApi({ pools: [{ name: 'a' }, { name: 'b' }] })), config);
    expect(objectsInYaml(files.get('ai.modelapi.llama.yaml')!)).toEqual(render(modelApi({ pools: [{ name: 'a' }, { name: 'b' }] }), testEnv).objects);
  });

  test('a CR without a namespace goes to a default.* file', () => {
    expect([...synthesize(sources(withoutNamespace(agent())), config).files.keys()]).toContain('default.agent.research.yaml');
  });

  test('the shared file holds the Gateway', () => {
    expect(kindsIn(synthesize(sources(agent()), config).files.get(SHARED_FILE))).toEqual(['Gateway/agentway-gateway']);
  });

  test('the ClientPool ReferenceGrant goes to the shared file, not the pool file', () => {
    const { files } = synthesize(sources(clientPool()), config);
    expect([kindsIn(files.get('ai.clientpool.sandbox.yaml')), kindsIn(files.get(SHARED_FILE))]).toEqual([
      ['Role/client-sandbox-api-keys', 'RoleBinding/client-sandbox-api-keys', 'HTTPRoute/client-sandbox'],
      ['Gateway/agentway-gateway', 'ReferenceGrant/agentway-routes-from-ai'],
    ]);
  });

  test('two ClientPools in one namespace share one ReferenceGrant', () => {
    const { files } = synthesize(sources(clientPool({}, 'one'), clientPool({}, 'two')), config);
    expect(kindsIn(files.get(SHARED_FILE)).filter((k) => k.startsWith('ReferenceGrant/'))).toEqual(['ReferenceGrant/agentway-routes-from-ai']);
  });

  test('ClientPools in two namespaces get a ReferenceGrant each, in name order', () => {
    const { files } = synthesize(sources(clientPool({}, 'x', 'zeta'), clientPool({}, 'x', 'alpha')), config);
    expect(kindsIn(files.get(SHARED_FILE)).filter((k) => k.startsWith('ReferenceGrant/')))
      .toEqual(['ReferenceGrant/agentway-routes-from-alpha', 'ReferenceGrant/agentway-routes-from-zeta']);
  });

  test('without a Gateway to create and without ClientPools there is no shared file', () => {
    const { files } = synthesize(sources(agent()), renderConfig({ gateway: { create: false } }));
    expect([...files.keys()]).toEqual(['ai.agent.research.yaml']);
  });

  test('without a Gateway to create the shared file holds just the ReferenceGrant', () => {
    const { files } = synthesize(sources(clientPool()), renderConfig({ gateway: { create: false } }));
    expect(kindsIn(files.get(SHARED_FILE))).toEqual(['ReferenceGrant/agentway-routes-from-ai']);
  });

  test('a ClientInstance renders with its ClientPool from the same input', () => {
    const { files, errors } = synthesize(sources(clientInstance(), clientPool()), config);
    expect([errors, kindsIn(files.get('ai.clientinstance.sandbox-acme-one.yaml'))]).toEqual([[], [
      'Deployment/client-sandbox-acme-one', 'Service/client-sandbox-acme-one', 'HTTPRoute/client-sandbox-acme-one',
    ]]);
  });

  test('a ClientInstance whose ClientPool is in another namespace is an error at spec.pool', () => {
    const { errors } = synthesize(sources(clientInstance(), clientPool({}, 'sandbox', 'other')), config);
    expect(errors.map((e) => [e.object, e.path])).toEqual([['ClientInstance/sandbox-acme-one', 'spec.pool']]);
  });

  test('no rendered object carries ownerReferences', () => {
    const { files } = synthesize(exampleDocuments(), config);
    const all = [...files.values()].flatMap(objectsInYaml);
    expect(all.filter((o: Json) => o.metadata.ownerReferences !== undefined)).toEqual([]);
  });

  test('the configuration reaches every file', () => {
    const { files } = synthesize(sources(agent()), renderConfig({ gateway: { name: 'edge' } }));
    const route = objectsInYaml(files.get('ai.agent.research.yaml')!).find((o) => o.kind === 'HTTPRoute');
    expect([route.spec.parentRefs[0].name, objectsInYaml(files.get(SHARED_FILE)!)[0].metadata.name]).toEqual(['edge', 'edge']);
  });
});

describe('input handling', () => {
  test('documents of other API groups are skipped and reported', () => {
    const result = synthesize(sources({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, agent()), config);
    expect([result.skipped, [...result.files.keys()]]).toEqual([['crs.yaml#1'], ['ai.agent.research.yaml', SHARED_FILE]]);
  });

  test('empty documents are ignored', () => {
    const result = synthesize(sources(null, agent()), config);
    expect([result.errors, result.skipped]).toEqual([[], []]);
  });

  test('a duplicate CR is an error at metadata.name that names the first one', () => {
    const { errors } = synthesize(sources(agent(), agent({ replicas: 2 })), config);
    expect(errors).toEqual([{ source: 'crs.yaml#2', object: 'Agent/research', path: 'metadata.name', message: 'duplicate of crs.yaml#1' }]);
  });

  test('a duplicate CR writes no files', () => {
    expect(synthesize(sources(agent(), agent()), config).files.size).toBe(0);
  });

  test('a CR without a namespace duplicates the same CR in "default"', () => {
    const { errors } = synthesize(sources(withoutNamespace(agent()), agent({}, 'research', 'default')), config);
    expect(errors.map((e) => e.path)).toEqual(['metadata.name']);
  });

  test('the same name in two namespaces is not a duplicate', () => {
    expect(synthesize(sources(agent({}, 'research', 'a'), agent({}, 'research', 'b')), config).errors).toEqual([]);
  });

  test('the same name in two kinds is not a duplicate', () => {
    expect(synthesize(sources(agent({}, 'search'), mcpServer({}, 'search')), config).errors).toEqual([]);
  });

  test('a bad CR is reported with its source, Kind/name, path and message', () => {
    const { errors } = synthesize(sources(agent(), agent({ replicas: -1 }, 'broken')), config);
    expect(errors).toEqual([{ source: 'crs.yaml#2', object: 'Agent/broken', path: 'spec.replicas', message: 'must be >= 0, got -1' }]);
  });

  test('a bad CR writes no files at all', () => {
    expect(synthesize(sources(agent(), agent({ replicas: -1 }, 'broken')), config).files.size).toBe(0);
  });

  test('the errors of every bad CR are collected', () => {
    const { errors } = synthesize(sources(agent({ port: 0 }), mcpServer({ gatewayRoute: { timeout: 'soon' } })), config);
    expect(errors.map((e) => `${e.object} ${e.path}`)).toEqual(['Agent/research spec.port', 'MCPServer/search spec.gatewayRoute.timeout']);
  });
});

describe('formatSynthError', () => {
  test('has the form file: Kind/name: field: reason', () => {
    expect(formatSynthError({ source: 'crs/agent.yaml', object: 'Agent/research', path: 'spec.replicas', message: 'must be >= 0, got -1' }))
      .toBe('crs/agent.yaml: Agent/research: spec.replicas: must be >= 0, got -1');
  });

  test('an error about the whole document says (document)', () => {
    expect(formatSynthError({ source: 'a.yaml', object: 'Agnet/x', path: '', message: 'must be an object' })).toBe('a.yaml: Agnet/x: (document): must be an object');
  });
});

describe('YAML that YAML 1.1 readers (kubectl, Argo CD) read back as written', () => {
  // Every string of up to three characters from those that make numbers, times, booleans and nulls.
  const alphabet = [...'0123456789_.-+:xobeEn~'];
  const short = [''];
  for (let n = 0; n < 3; n++) short.push(...short.filter((s) => s.length === n).flatMap((s) => alphabet.map((c) => s + c)));
  const corpus = [
    ...short.filter((s) => s !== ''),
    '1_000', '0x_1F', '-_1', '_', '1_', '-1_000.5', '0b1_0', '.5_0', '1_0e3', '10:30', '190:20:30', '0777', '1e5', '.inf', '.NaN',
    'yes', 'No', 'on', 'OFF', 'y', 'n', 'null', 'Null', '~', '2024-01-01', '2024-01-01T10:00:00Z', '<<', '=',
  ];

  test.each([['1.1'], ['1.2']] as const)('every string of the corpus is read back as that string by a YAML %s parser', async (version) => {
    const { parse } = await import('yaml');
    const doc = Object.fromEntries(corpus.map((s, i) => [`k${i}`, s]));
    const back = parse(toYaml([doc]), { version });
    const changed = corpus.filter((s, i) => back[`k${i}`] !== s);
    expect(changed).toEqual([]);
  });
});
