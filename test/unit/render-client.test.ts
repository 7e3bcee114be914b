/**
 * ClientPool (catch-all route to the route server, ReferenceGrant) and ClientInstance (one pod of its
 * pool's template, with its own Service and route).
 */
import { ClientPool } from '../../manifests/api.js';
import { RenderEnv } from '../../manifests/config.js';
import { clientInstanceName } from '../../manifests/names.js';
import { render } from '../../manifests/render.js';
import {
  CR, Json, NAMESPACE, backendRefsOf, clientInstance, clientPool, containerOf, deploymentIn, env, envOf, one, routeIn, serviceIn, testEnv,
} from './fixtures.js';

function objectsOf(cr: unknown, renderEnv: RenderEnv = testEnv) {
  const result = render(cr, renderEnv);
  expect(result.errors).toEqual([]);
  return result.objects;
}

/** The render environment of a ClientInstance: its pool, as the controller reads it from the cache. */
const withPool = (pool: CR = clientPool(), base: RenderEnv = testEnv): RenderEnv => ({ ...base, clientPool: pool as unknown as ClientPool });

describe('ClientPool', () => {
  test('renders no workload of its own: the key access, a route and the route server grant', () => {
    expect(objectsOf(clientPool()).map((o) => o.kind)).toEqual(['Role', 'RoleBinding', 'HTTPRoute', 'ReferenceGrant']);
  });

  test('its Role lets the route server read its key Secret and nothing else', () => {
    const role = one(objectsOf(clientPool({ apiKeys: { secretRef: { name: 'team-keys' } } })), 'Role');
    expect([role.metadata.name, role.metadata.namespace, role.rules]).toEqual(['client-sandbox-api-keys', NAMESPACE, [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['team-keys'], verbs: ['get', 'list', 'watch'] },
    ]]);
  });

  test('its RoleBinding binds that Role to the route server ServiceAccount', () => {
    const binding = one(objectsOf(clientPool(), env({ routeServer: { name: 'rs', namespace: 'edge' } })), 'RoleBinding');
    expect([binding.roleRef, binding.subjects]).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'client-sandbox-api-keys' },
      [{ kind: 'ServiceAccount', name: 'rs', namespace: 'edge' }],
    ]);
  });

  test('its route is named client-{name}', () => {
    expect(routeIn(objectsOf(clientPool())).metadata.name).toBe('client-sandbox');
  });

  test('its route is a catch-all under /{namespace}/client/{name}', () => {
    expect(routeIn(objectsOf(clientPool())).spec.rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: `/${NAMESPACE}/client/sandbox` } }]);
  });

  test('its route sends every request to the route server Service in its own namespace', () => {
    expect(backendRefsOf(routeIn(objectsOf(clientPool())).spec.rules[0])).toEqual([
      { group: '', kind: 'Service', name: 'agentway-route-server', namespace: 'agentway-system', port: 8090, weight: 1 },
    ]);
  });

  test('its route keeps the path: the route server reads pool, client and instance from it', () => {
    expect('filters' in routeIn(objectsOf(clientPool())).spec.rules[0]).toBe(false);
  });

  test('its route carries the instance labels', () => {
    expect(routeIn(objectsOf(clientPool())).metadata.labels).toEqual({
      'app.kubernetes.io/name': 'client',
      'app.kubernetes.io/instance': 'client-sandbox',
      'app.kubernetes.io/component': 'ClientPool',
      'app.kubernetes.io/managed-by': 'agentway',
    });
  });

  test('its route timeout defaults to 120s', () => {
    expect(routeIn(objectsOf(clientPool())).spec.rules[0].timeouts).toEqual({ request: '120s' });
  });

  test('its route timeout comes from gatewayRoute.timeout', () => {
    expect(routeIn(objectsOf(clientPool({ gatewayRoute: { timeout: '10m' } }))).spec.rules[0].timeouts).toEqual({ request: '10m' });
  });

  test('its route has the pool hostnames', () => {
    expect(routeIn(objectsOf(clientPool({ gatewayRoute: { hostnames: ['sandbox.example.com'] } }))).spec.hostnames).toEqual(['sandbox.example.com']);
  });

  test('the ReferenceGrant lives in the route server namespace and admits HTTPRoutes from the pool namespace', () => {
    const grant = one(objectsOf(clientPool()), 'ReferenceGrant');
    expect([grant.metadata.namespace, grant.spec.from]).toEqual([
      'agentway-system', [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: NAMESPACE }],
    ]);
  });

  test('the ReferenceGrant admits only the route server Service', () => {
    expect(one(objectsOf(clientPool()), 'ReferenceGrant').spec.to).toEqual([{ group: '', kind: 'Service', name: 'agentway-route-server' }]);
  });

  test('the ReferenceGrant is named after the namespace it admits', () => {
    expect(one(objectsOf(clientPool({}, 'sandbox', 'team-b')), 'ReferenceGrant').metadata.name).toBe('agentway-routes-from-team-b');
  });

  test('the ReferenceGrant is labelled as managed by agentway', () => {
    expect(one(objectsOf(clientPool()), 'ReferenceGrant').metadata.labels['app.kubernetes.io/managed-by']).toBe('agentway');
  });

  test('a configured route server is the backend and the grant target', () => {
    const objects = objectsOf(clientPool(), env({ routeServer: { name: 'rs', namespace: 'edge', port: 9999 } }));
    const ref = routeIn(objects).spec.rules[0].backendRefs[0];
    const grant = one(objects, 'ReferenceGrant');
    expect([ref.name, ref.namespace, ref.port, grant.metadata.namespace, grant.spec.to[0].name]).toEqual(['rs', 'edge', 9999, 'edge', 'rs']);
  });

  test('a pool in the route server namespace needs no ReferenceGrant', () => {
    expect(objectsOf(clientPool({}, 'sandbox', 'agentway-system')).map((o) => o.kind)).toEqual(['Role', 'RoleBinding', 'HTTPRoute']);
  });

  test('gatewayRoute.enabled false renders only the key access', () => {
    expect(objectsOf(clientPool({ gatewayRoute: { enabled: false } })).map((o) => o.kind)).toEqual(['Role', 'RoleBinding']);
  });

  test('the render result reports the pool path as the endpoint', () => {
    expect(render(clientPool(), testEnv).endpoint).toBe(`/${NAMESPACE}/client/sandbox`);
  });
});

describe('ClientInstance', () => {
  test('renders a Deployment, a Service and a route, all named client-{name}', () => {
    expect(objectsOf(clientInstance(), withPool()).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Deployment/client-sandbox-acme-one', 'Service/client-sandbox-acme-one', 'HTTPRoute/client-sandbox-acme-one',
    ]);
  });

  test('runs exactly one replica', () => {
    expect(deploymentIn(objectsOf(clientInstance(), withPool())).spec.replicas).toBe(1);
  });

  test('runs the pool template image on the template port', () => {
    const c = containerOf(deploymentIn(objectsOf(clientInstance(), withPool())));
    expect([c.image, c.ports[0].containerPort]).toEqual(['ghcr.io/acme/sandbox:2.0', 8080]);
  });

  test('its pod knows its client and instance ids', () => {
    expect(envOf(deploymentIn(objectsOf(clientInstance(), withPool())))).toMatchObject({ AGENTWAY_CLIENT_ID: 'acme', AGENTWAY_INSTANCE_ID: 'one' });
  });

  test('its pod is restricted like every other workload', () => {
    expect(containerOf(deploymentIn(objectsOf(clientInstance(), withPool()))).securityContext).toEqual({
      allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test('gets the template accelerator as a string limit and its toleration', () => {
    const pool = clientPool({ template: { image: 'x:1', resources: { gpu: 1 } } });
    const d = deploymentIn(objectsOf(clientInstance(), withPool(pool)));
    expect([containerOf(d).resources.limits['nvidia.com/gpu'], d.spec.template.spec.tolerations])
      .toEqual(['1', [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]]);
  });

  test('gets probes from the template health path', () => {
    const pool = clientPool({ template: { image: 'x:1', health: { path: '/healthz' } } });
    expect(containerOf(deploymentIn(objectsOf(clientInstance(), withPool(pool)))).readinessProbe.httpGet.path).toBe('/healthz');
  });

  test('every object carries the instance labels, the client-pool label and pool "default"', () => {
    for (const o of objectsOf(clientInstance(), withPool()) as Json[]) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'client',
        'app.kubernetes.io/instance': 'client-sandbox-acme-one',
        'app.kubernetes.io/component': 'ClientInstance',
        'app.kubernetes.io/managed-by': 'agentway',
        'agentway.dev/client-pool': 'sandbox',
      });
    }
  });

  test('its Service selects its own pod', () => {
    expect(serviceIn(objectsOf(clientInstance(), withPool())).spec.selector)
      .toEqual({ 'app.kubernetes.io/instance': 'client-sandbox-acme-one', 'agentway.dev/pool': 'default' });
  });

  test('its route matches /{namespace}/client/{pool}/{client}/{instance}', () => {
    expect(routeIn(objectsOf(clientInstance(), withPool())).spec.rules[0].matches[0].path)
      .toEqual({ type: 'PathPrefix', value: `/${NAMESPACE}/client/sandbox/acme/one` });
  });

  test('its route path lies under the pool catch-all, so it wins once it exists', () => {
    const poolPath = routeIn(objectsOf(clientPool())).spec.rules[0].matches[0].path.value;
    const instancePath = routeIn(objectsOf(clientInstance(), withPool())).spec.rules[0].matches[0].path.value;
    expect(instancePath.startsWith(`${poolPath}/`)).toBe(true);
  });

  test('its route strips the prefix before the request reaches the pod', () => {
    expect(routeIn(objectsOf(clientInstance(), withPool())).spec.rules[0].filters[0].urlRewrite)
      .toEqual({ path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } });
  });

  test('its route sends traffic to its own Service', () => {
    expect(backendRefsOf(routeIn(objectsOf(clientInstance(), withPool())).spec.rules[0]))
      .toEqual([{ group: '', kind: 'Service', name: 'client-sandbox-acme-one', port: 8080, weight: 1 }]);
  });

  test('its route takes the pool timeout', () => {
    const pool = clientPool({ gatewayRoute: { timeout: '15m' } });
    expect(routeIn(objectsOf(clientInstance(), withPool(pool))).spec.rules[0].timeouts).toEqual({ request: '15m' });
  });

  test('its route takes the pool hostnames', () => {
    const pool = clientPool({ gatewayRoute: { hostnames: ['sandbox.example.com'] } });
    expect(routeIn(objectsOf(clientInstance(), withPool(pool))).spec.hostnames).toEqual(['sandbox.example.com']);
  });

  test('no route when the pool disables gatewayRoute', () => {
    const pool = clientPool({ gatewayRoute: { enabled: false } });
    expect(objectsOf(clientInstance(), withPool(pool)).map((o) => o.kind)).toEqual(['Deployment', 'Service']);
  });

  test('the render result reports its path as the endpoint', () => {
    expect(render(clientInstance(), withPool()).endpoint).toBe(`/${NAMESPACE}/client/sandbox/acme/one`);
  });

  test('without its ClientPool it is an error at spec.pool, with no objects', () => {
    const { errors, objects } = render(clientInstance(), testEnv);
    expect([errors.map((e) => e.path), objects]).toEqual([['spec.pool'], []]);
  });

  test('a ClientPool of another name is an error at spec.pool', () => {
    const { errors } = render(clientInstance({ pool: 'other' }), withPool());
    expect(errors.map((e) => e.path)).toEqual(['spec.pool']);
  });

  test('an invalid ClientPool is an error at spec.pool that names the pool field', () => {
    const { errors } = render(clientInstance(), withPool(clientPool({ maxInstances: 0 })));
    expect(errors).toEqual([{ path: 'spec.pool', message: expect.stringContaining('spec.maxInstances') }]);
  });

  test('the route server names an instance {pool}-{client}-{instance}', () => {
    expect(clientInstanceName('sandbox', 'acme', 'one')).toBe('sandbox-acme-one');
  });

  test('a name that would be too long becomes the pool and a stable hash, short enough to render', () => {
    const name = clientInstanceName('sandbox', 'c'.repeat(30), 'i'.repeat(30));
    expect(name).toMatch(/^sandbox---[0-9a-f]{16}$/);
    expect(clientInstanceName('sandbox', 'c'.repeat(30), 'i'.repeat(30))).toBe(name);
    expect(clientInstanceName('sandbox', 'c'.repeat(30), 'j'.repeat(30))).not.toBe(name);
    const { errors } = render(clientInstance({ client: 'c'.repeat(30), instance: 'i'.repeat(30) }, name), withPool());
    expect(errors).toEqual([]);
  });
});
