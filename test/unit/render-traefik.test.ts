/** The optional Traefik objects: a forwardAuth Middleware to the route server and the IngressRoute using it. */
import { renderConfig } from '../../manifests/config.js';
import { renderShared } from '../../manifests/render.js';

const shared = (overrides = {}) => renderShared(renderConfig({ traefik: { enabled: true }, ...overrides }));
const byKind = (kind: string, overrides = {}) => shared(overrides).find((o) => o.kind === kind) as any;

describe('Traefik output', () => {
  test('is off by default', () => {
    expect(renderShared(renderConfig()).map((o) => o.kind)).toEqual(['Gateway']);
  });

  test('adds a Middleware and an IngressRoute of traefik.io/v1alpha1 when enabled', () => {
    expect(shared().map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
      'gateway.networking.k8s.io/v1 Gateway', 'traefik.io/v1alpha1 Middleware', 'traefik.io/v1alpha1 IngressRoute',
    ]);
  });

  test('the Middleware sends forwardAuth to the route server and passes the pod headers on', () => {
    expect(byKind('Middleware').spec.forwardAuth).toEqual({
      address: 'http://agentway-route-server.agentway-system.svc:8090/api/route',
      authResponseHeaders: ['X-Pod-Service', 'X-Pod-Namespace', 'X-Pod-Port'],
    });
  });

  test('the IngressRoute matches /api/v1/ through the Middleware to the route server', () => {
    expect(byKind('IngressRoute').spec).toEqual({
      entryPoints: ['web'],
      routes: [{
        kind: 'Rule', match: 'PathPrefix(`/api/v1/`)',
        middlewares: [{ name: 'agentway-forward-auth', namespace: 'agentway-system' }],
        services: [{ name: 'agentway-route-server', namespace: 'agentway-system', port: 8090 }],
      }],
    });
  });

  test('follows the route server configuration and the entry points', () => {
    const ir = byKind('IngressRoute', { routeServer: { namespace: 'edge', port: 9000 }, traefik: { enabled: true, entryPoints: ['websecure'] } });
    expect(ir.metadata.namespace).toBe('edge');
    expect(ir.spec.entryPoints).toEqual(['websecure']);
    expect(ir.spec.routes[0].services).toEqual([{ name: 'agentway-route-server', namespace: 'edge', port: 9000 }]);
    expect(byKind('Middleware', { routeServer: { namespace: 'edge', port: 9000 } }).spec.forwardAuth.address).toBe('http://agentway-route-server.edge.svc:9000/api/route');
  });
});
