/**
 * The shared Gateway (AgentwayGateway, through renderShared) and its agreement with the routes' parentRefs.
 */
import { renderConfig } from '../../manifests/config.js';
import { render, renderShared } from '../../manifests/render.js';
import { agent, env, one, routeIn } from './fixtures.js';

const gatewayOf = (overrides = {}) => one(renderShared(renderConfig(overrides)), 'Gateway');

describe('Gateway', () => {
  test('renderShared renders exactly one Gateway', () => {
    expect(renderShared(renderConfig()).map((o) => o.kind)).toEqual(['Gateway']);
  });

  test('is named agentway-gateway in agentway-system by default', () => {
    expect([gatewayOf().metadata.name, gatewayOf().metadata.namespace]).toEqual(['agentway-gateway', 'agentway-system']);
  });

  test('uses the agentway GatewayClass by default', () => {
    expect(gatewayOf().spec.gatewayClassName).toBe('agentway');
  });

  test('has one HTTP listener on port 80 that accepts routes from all namespaces', () => {
    expect(gatewayOf().spec.listeners).toEqual([
      { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } },
    ]);
  });

  test('takes name, namespace, class and port from the configuration', () => {
    const gw = gatewayOf({ gateway: { name: 'edge', namespace: 'ingress', className: 'traefik', port: 8000 } });
    expect([gw.metadata.name, gw.metadata.namespace, gw.spec.gatewayClassName, gw.spec.listeners[0].port])
      .toEqual(['edge', 'ingress', 'traefik', 8000]);
  });

  test('is labelled as managed by agentway', () => {
    expect(gatewayOf().metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'agentway', 'app.kubernetes.io/component': 'Gateway' });
  });

  test('is not rendered when create is false', () => {
    expect(renderShared(renderConfig({ gateway: { create: false } }))).toEqual([]);
  });

  test('routes attach to the Gateway that renderShared renders for the same configuration', () => {
    const overrides = { gateway: { name: 'edge', namespace: 'ingress' } };
    const gw = gatewayOf(overrides);
    const parent = routeIn(render(agent(), env(overrides)).objects).spec.parentRefs[0];
    expect([parent.kind, parent.name, parent.namespace]).toEqual([gw.kind, gw.metadata.name, gw.metadata.namespace]);
  });

  test('routes still attach to the configured Gateway when agentway does not create it', () => {
    const parent = routeIn(render(agent(), env({ gateway: { create: false, name: 'existing' } })).objects).spec.parentRefs[0];
    expect(parent.name).toBe('existing');
  });
});
