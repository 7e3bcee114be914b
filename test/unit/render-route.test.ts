/**
 * The HTTPRoute of Agent, ModelAPI and MCPServer (the Route construct, through render): path, rewrite,
 * timeouts, hostnames, weighted backendRefs and the GPU-only header rule.
 */
import { App, Chart } from 'cdk8s';
import { HttpRoute } from '../../imports/httproute-gateway.networking.k8s.io.js';
import { RenderEnv } from '../../manifests/config.js';
import { render } from '../../manifests/render.js';
import { Route, RouteBackend, RouteProps } from '../../manifests/route.js';
import {
  GPU_AND_CPU_POOLS, Json, NAMESPACE, agent, backendRefsOf, env, mcpServer, modelApi, ofKind, routeIn, testEnv, weightsOf,
} from './fixtures.js';

function routeOf(cr: unknown, renderEnv: RenderEnv = testEnv): Json {
  const result = render(cr, renderEnv);
  expect(result.errors).toEqual([]);
  return routeIn(result.objects);
}

const KINDS = [
  { kind: 'Agent', build: agent, name: 'research', segment: 'agent', timeout: '120s' },
  { kind: 'ModelAPI', build: modelApi, name: 'llama', segment: 'modelapi', timeout: '120s' },
  { kind: 'MCPServer', build: mcpServer, name: 'search', segment: 'mcp', timeout: '30s' },
];

const ACCELERATOR_MATCH = { type: 'Exact', name: 'x-agentway-accelerator', value: 'gpu' };

describe('route', () => {
  test.each(KINDS)('a $kind route is named {segment}-{name}', ({ build, name, segment }) => {
    expect(routeOf(build()).metadata.name).toBe(`${segment}-${name}`);
  });

  test.each(KINDS)('a $kind route matches the path prefix /{namespace}/{segment}/{name}', ({ build, name, segment }) => {
    expect(routeOf(build()).spec.rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: `/${NAMESPACE}/${segment}/${name}` } }]);
  });

  test('the path uses the namespace of the CR', () => {
    expect(routeOf(agent({}, 'research', 'team-b')).spec.rules[0].matches[0].path.value).toBe('/team-b/agent/research');
  });

  test('the matched prefix is replaced by /', () => {
    expect(routeOf(agent()).spec.rules[0].filters).toEqual([
      { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
    ]);
  });

  test('the route attaches to the default Gateway', () => {
    expect(routeOf(agent()).spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'agentway-gateway', namespace: 'agentway-system' },
    ]);
  });

  test('the route attaches to the configured Gateway', () => {
    const parent = routeOf(agent(), env({ gateway: { name: 'edge', namespace: 'ingress' } })).spec.parentRefs[0];
    expect([parent.name, parent.namespace]).toEqual(['edge', 'ingress']);
  });

  test('the render result reports the route path as the endpoint', () => {
    expect(render(modelApi(), testEnv).endpoint).toBe(`/${NAMESPACE}/modelapi/llama`);
  });

  test('gatewayRoute.enabled false renders no HTTPRoute', () => {
    expect(ofKind(render(agent({ gatewayRoute: { enabled: false } }), testEnv).objects, 'HTTPRoute')).toEqual([]);
  });

  test('gatewayRoute.enabled false still renders the Deployment and Service', () => {
    const kinds = render(agent({ gatewayRoute: { enabled: false } }), testEnv).objects.map((o) => o.kind);
    expect(kinds).toEqual(['Deployment', 'Service']);
  });

  test('gatewayRoute.enabled false leaves no endpoint', () => {
    expect(render(agent({ gatewayRoute: { enabled: false } }), testEnv).endpoint).toBeUndefined();
  });

  test('hostnames are set when given', () => {
    expect(routeOf(agent({ gatewayRoute: { hostnames: ['ai.example.com', '*.agents.example.com'] } })).spec.hostnames)
      .toEqual(['ai.example.com', '*.agents.example.com']);
  });

  test('without hostnames the route sets none', () => {
    expect('hostnames' in routeOf(agent()).spec).toBe(false);
  });
});

describe('timeouts', () => {
  const timeoutOf = (cr: unknown, renderEnv?: RenderEnv) => routeOf(cr, renderEnv).spec.rules[0].timeouts;

  test.each(KINDS)('a $kind without a timeout gets its kind default ($timeout)', ({ build, timeout }) => {
    expect(timeoutOf(build())).toEqual({ request: timeout });
  });

  test('the CR timeout wins over the kind default', () => {
    expect(timeoutOf(mcpServer({ gatewayRoute: { timeout: '45s' } }))).toEqual({ request: '45s' });
  });

  test('a compound CR timeout is kept as written', () => {
    expect(timeoutOf(modelApi({ gatewayRoute: { timeout: '1h30m' } }))).toEqual({ request: '1h30m' });
  });

  test('a timeout of 0s omits the timeouts', () => {
    expect('timeouts' in routeOf(agent({ gatewayRoute: { timeout: '0s' } })).spec.rules[0]).toBe(false);
  });

  test('a timeout of 0ms also omits the timeouts', () => {
    expect('timeouts' in routeOf(agent({ gatewayRoute: { timeout: '0ms' } })).spec.rules[0]).toBe(false);
  });

  test.each([
    ['agent', agent, '60s'],
    ['modelapi', modelApi, '10m'],
    ['mcp', mcpServer, '5s'],
  ] as const)('the configured %s default replaces the built-in one', (key, build, value) => {
    expect(timeoutOf(build(), env({ defaultTimeouts: { [key]: value } }))).toEqual({ request: value });
  });

  test('overriding one kind default leaves the others alone', () => {
    expect(timeoutOf(mcpServer(), env({ defaultTimeouts: { agent: '60s' } }))).toEqual({ request: '30s' });
  });

  test('a configured default of 0s omits the timeouts', () => {
    expect('timeouts' in routeOf(agent(), env({ defaultTimeouts: { agent: '0s' } })).spec.rules[0]).toBe(false);
  });

  test('the CR timeout wins over a configured default', () => {
    expect(timeoutOf(agent({ gatewayRoute: { timeout: '300s' } }), env({ defaultTimeouts: { agent: '60s' } }))).toEqual({ request: '300s' });
  });

  test('a Gateway without request timeouts gets no timeouts, even when the CR sets one', () => {
    const route = routeOf(agent({ gatewayRoute: { timeout: '300s' } }), env({ gateway: { requestTimeouts: false } }));
    expect(route.spec.rules.map((r: Json) => 'timeouts' in r)).toEqual([false]);
  });

  test('a Gateway without request timeouts gets no timeouts on the GPU rule either', () => {
    const route = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS }), env({ gateway: { requestTimeouts: false } }));
    expect(route.spec.rules.map((r: Json) => 'timeouts' in r)).toEqual([false, false]);
  });
});

describe('backends and weights', () => {
  test('a CR without pools has one backendRef to its Service with weight 100', () => {
    expect(backendRefsOf(routeOf(agent({ port: 9000 })).spec.rules[0])).toEqual([
      { group: '', kind: 'Service', name: 'agent-research', port: 9000, weight: 100 },
    ]);
  });

  test('there is one backendRef per pool, in pool order', () => {
    const refs = routeOf(mcpServer({ pools: [{ name: 'b' }, { name: 'a' }, { name: 'c' }] })).spec.rules[0].backendRefs;
    expect(refs.map((r: Json) => r.name)).toEqual(['mcp-search-b', 'mcp-search-a', 'mcp-search-c']);
  });

  test('backendRefs point at the spec port', () => {
    const refs = routeOf(modelApi({ port: 8001, pools: GPU_AND_CPU_POOLS })).spec.rules[0].backendRefs;
    expect(refs.map((r: Json) => r.port)).toEqual([8001, 8001]);
  });

  test('backendRefs stay in the route namespace', () => {
    const refs = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS })).spec.rules[0].backendRefs;
    expect(refs.map((r: Json) => r.namespace)).toEqual([undefined, undefined]);
  });

  test('default weights follow replicas (2 and 3 replicas → 40 and 60)', () => {
    expect(weightsOf(routeOf(modelApi({ pools: GPU_AND_CPU_POOLS })).spec.rules[0]))
      .toEqual({ 'modelapi-llama-a100': 40, 'modelapi-llama-cpu': 60 });
  });

  test('default weights count each replica once per accelerator', () => {
    const pools = [{ name: 'h100', replicas: 1, resources: { gpu: 4 } }, { name: 'cpu', replicas: 2 }];
    expect(weightsOf(routeOf(modelApi({ pools })).spec.rules[0])).toEqual({ 'modelapi-llama-h100': 67, 'modelapi-llama-cpu': 33 });
  });

  test('a pool with 0 replicas gets weight 0', () => {
    const pools = [{ name: 'a', replicas: 0 }, { name: 'b', replicas: 1 }];
    expect(weightsOf(routeOf(mcpServer({ pools })).spec.rules[0])).toEqual({ 'mcp-search-a': 0, 'mcp-search-b': 100 });
  });

  test('a CR scaled to 0 has weight 0 on its only backend', () => {
    expect(weightsOf(routeOf(agent({ replicas: 0 })).spec.rules[0])).toEqual({ 'agent-research': 0 });
  });

  test('weights from the environment (live capacity) replace the default ones', () => {
    const route = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS }), env({}, { weights: { a100: 90, cpu: 10 } }));
    expect(weightsOf(route.spec.rules[0])).toEqual({ 'modelapi-llama-a100': 90, 'modelapi-llama-cpu': 10 });
  });

  test('a weight of 0 from the environment is kept', () => {
    const route = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS }), env({}, { weights: { a100: 0, cpu: 100 } }));
    expect(weightsOf(route.spec.rules[0])).toEqual({ 'modelapi-llama-a100': 0, 'modelapi-llama-cpu': 100 });
  });
});

describe('GPU-only rule', () => {
  test('GPU and CPU pools mixed give a second rule', () => {
    expect(routeOf(modelApi({ pools: GPU_AND_CPU_POOLS })).spec.rules).toHaveLength(2);
  });

  test('the second rule matches the same path plus the header x-agentway-accelerator: gpu', () => {
    expect(routeOf(modelApi({ pools: GPU_AND_CPU_POOLS })).spec.rules[1].matches).toEqual([
      { path: { type: 'PathPrefix', value: `/${NAMESPACE}/modelapi/llama` }, headers: [ACCELERATOR_MATCH] },
    ]);
  });

  test('the GPU rule lists the GPU pools only', () => {
    const pools = [
      { name: 'a100', resources: { gpu: 1 } },
      { name: 'cpu', replicas: 4 },
      { name: 'h100', resources: { gpu: 8 } },
    ];
    const refs = routeOf(modelApi({ pools })).spec.rules[1].backendRefs;
    expect(refs.map((r: Json) => r.name)).toEqual(['modelapi-llama-a100', 'modelapi-llama-h100']);
  });

  test('the main rule still lists every pool', () => {
    const refs = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS })).spec.rules[0].backendRefs;
    expect(refs.map((r: Json) => r.name)).toEqual(['modelapi-llama-a100', 'modelapi-llama-cpu']);
  });

  test('the GPU rule keeps the pool weights', () => {
    const route = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS }), env({}, { weights: { a100: 70, cpu: 30 } }));
    expect(weightsOf(route.spec.rules[1])).toEqual({ 'modelapi-llama-a100': 70 });
  });

  test('the GPU rule has the same rewrite and timeout as the main rule', () => {
    const [main, gpu] = routeOf(modelApi({ pools: GPU_AND_CPU_POOLS, gatewayRoute: { timeout: '300s' } })).spec.rules;
    expect([gpu.filters, gpu.timeouts]).toEqual([main.filters, main.timeouts]);
  });

  test('only GPU pools give a single rule without a header match', () => {
    const pools = [{ name: 'a100', resources: { gpu: 1 } }, { name: 'h100', resources: { gpu: 1 } }];
    expect(routeOf(modelApi({ pools })).spec.rules.map((r: Json) => r.matches[0].headers)).toEqual([undefined]);
  });

  test('only CPU pools give a single rule without a header match', () => {
    expect(routeOf(modelApi({ pools: [{ name: 'a' }, { name: 'b' }] })).spec.rules.map((r: Json) => r.matches[0].headers)).toEqual([undefined]);
  });

  test('a single GPU workload without pools gives a single rule', () => {
    expect(routeOf(modelApi({ resources: { gpu: 1 } })).spec.rules).toHaveLength(1);
  });
});

describe('Route construct', () => {
  const base: RouteProps = {
    namespace: 'ai', name: 'agent-research', labels: { 'app.kubernetes.io/name': 'agent' },
    gateway: { name: 'agentway', namespace: 'agentway-system' }, pathPrefix: '/ai/agent/research',
    backends: [{ service: 'agent-research', port: 8000, weight: 1 }],
  };
  const mixed: RouteBackend[] = [
    { service: 'llama-cpu', port: 8000, weight: 3 }, { service: 'llama-gpu', namespace: 'gpu', port: 8000, weight: 7, gpu: true },
  ];
  const SHAPES: [string, RouteProps][] = [
    ['one backend', base],
    ['timeout, hostnames, no rewrite', { ...base, timeout: '90s', hostnames: ['a.example.com', 'b.example.com'], rewrite: false }],
    ['GPU and CPU backends', { ...base, backends: mixed, timeout: '120s' }],
    ['header matches', { ...base, headerMatches: { pathPrefix: '/v1', headers: [[{ name: 'x-model', value: 'llama' }], [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }]] } }],
    ['header matches with GPU and CPU backends', { ...base, backends: mixed, headerMatches: { pathPrefix: '/v1', headers: [[{ name: 'x-model', value: 'llama' }]] } }],
    ['no backends', { ...base, backends: [] }],
  ];
  const chart = (id: string) => new Chart(new App({ outdir: 'unused', recordConstructMetadata: false }), id);

  test.each(SHAPES)('%s: the same HTTPRoute the generated HttpRoute class gives, byte for byte', (_, props) => {
    const ours = new Route(chart('ours'), 'route', props).httpRoute.toJson();
    // The generated class reads each field by its TypeScript name: a field we wrote under any other name
    // would be missing from its output.
    const generated = new HttpRoute(chart('generated'), 'route', { metadata: ours.metadata, spec: ours.spec }).toJson();
    expect(JSON.stringify(ours)).toBe(JSON.stringify(generated));
    expect(ours.spec.rules.length).toBeGreaterThan(0);
  });
});
