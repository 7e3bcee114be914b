/** The Gateway API side of model routing: header-native rules per ModelAPI and the router's install. */
import { renderInstall } from '../../manifests/install.js';
import { render } from '../../manifests/render.js';
import { ROUTER_RULES } from '../../manifests/router-install.js';
import { Json, env, modelApi, testEnv } from './fixtures.js';

const routeOf = (objects: readonly Json[]) => objects.find((o) => o.kind === 'HTTPRoute');

test('a ModelAPI\'s models get header-match rules at the router prefix, straight to its backends', () => {
  const route = routeOf(render(modelApi({ models: ['llama', 'qwen'], ownedBy: 'vLLM' }), testEnv).objects);
  expect(route.spec.rules).toHaveLength(2);
  const rule = route.spec.rules[1];
  expect(rule.matches).toEqual(['llama', 'qwen'].map((m) => ({
    path: { type: 'PathPrefix', value: '/v1' },
    headers: [{ type: 'Exact', name: 'x-agentway-model', value: m }, { type: 'Exact', name: 'x-owned-by', value: 'vllm' }],
  })));
  expect(rule.filters).toBeUndefined();
  expect(rule.backendRefs).toEqual(route.spec.rules[0].backendRefs);
  expect(rule.timeouts).toEqual({ request: '120s' });
});

test('without ownedBy only the model header is matched; the prefix follows the configuration', () => {
  const route = routeOf(render(modelApi({ models: ['llama'] }), env({ router: { prefix: '/openai/v1' } })).objects);
  expect(route.spec.rules[1].matches).toEqual([{ path: { type: 'PathPrefix', value: '/openai/v1' }, headers: [{ type: 'Exact', name: 'x-agentway-model', value: 'llama' }] }]);
});

test('a ModelAPI without models gets no header rule', () => {
  expect(routeOf(render(modelApi(), testEnv).objects).spec.rules).toHaveLength(1);
});

test('with GPU and CPU pools, the header-native GPU rule lists the GPU pool only', () => {
  const route = routeOf(render(modelApi({
    models: ['llama'], pools: [{ name: 'gpu', resources: { gpu: 1 } }, { name: 'cpu', resources: { cpu: '4' } }],
  }), testEnv).objects);
  expect(route.spec.rules).toHaveLength(4);
  const gpuRule = route.spec.rules[3];
  expect(gpuRule.matches[0].headers).toEqual([
    { type: 'Exact', name: 'x-agentway-model', value: 'llama' }, { type: 'Exact', name: 'x-agentway-accelerator', value: 'gpu' },
  ]);
  expect(gpuRule.backendRefs.map((b: Json) => b.name)).toEqual(['modelapi-llama-gpu']);
});

describe('install renders the router', () => {
  const objects: Json[] = renderInstall({ namespace: 'agentway-system' }) as Json[];
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

  test('a Deployment of 2 restricted replicas with probes and a heap limit', () => {
    const d = find('Deployment', 'agentway-router');
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    expect(pod.serviceAccountName).toBe('agentway-router');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const c = pod.containers[0];
    expect(c.args).toEqual(['router', '--port=8000', '--metrics-port=8082', '--admin-port=8001', '--admin-token-secret=agentway-system/agentway-router-admin']);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
    expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: expect.stringMatching(/--max-old-space-size=\d+/) });
    expect(c.resources.limits.memory).toBeDefined();
  });

  test('Services for the API, the admin API and the metrics', () => {
    expect(find('Service', 'agentway-router-admin').spec.ports).toEqual([{ name: 'admin', port: 8001, targetPort: 'admin', protocol: 'TCP' }]);
    expect(find('Service', 'agentway-router').spec.ports).toEqual([{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }]);
    expect(find('Service', 'agentway-router-metrics').spec.ports).toEqual([{ name: 'metrics', port: 8082, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  test('an HTTPRoute sends the router prefix, unchanged, to the router Service', () => {
    const r = find('HTTPRoute', 'agentway-router');
    expect(r.spec.parentRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'agentway-gateway', namespace: 'agentway-system' }]);
    expect(r.spec.rules).toEqual([{ matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ kind: 'Service', name: 'agentway-router', port: 8000, weight: 1 }] }]);
  });

  test('the router writes only ModelRoutes and patches ModelAPIs; it reads one Secret, by name, in its namespace', () => {
    const role = find('ClusterRole', 'agentway-router');
    expect(role.rules).toEqual(ROUTER_RULES);
    const writes = role.rules.filter((r: Json) => r.verbs.some((v: string) => !['get', 'list', 'watch'].includes(v)));
    expect(writes.map((r: Json) => [r.resources, r.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v))])).toEqual([
      [['modelapis'], ['patch']], [['modelroutes'], ['create', 'patch', 'delete']],
    ]);
    expect(role.rules.flatMap((r: Json) => r.resources)).not.toContain('secrets');
    const secretRole = find('Role', 'agentway-router-admin-token');
    expect(secretRole.metadata.namespace).toBe('agentway-system');
    expect(secretRole.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['agentway-router-admin'], verbs: ['get'] }]);
  });
});
