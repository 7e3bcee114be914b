/**
 * Names, namespaces, ports and the image that agentway uses when nothing else is configured, defined once.
 * The render core, the install manifests and every command's flags take their defaults from here, so the
 * objects `agentway install` renders and the processes they run agree on them.
 */

/** The package version (package.json's; a test keeps the two equal). */
export const PACKAGE_VERSION = '0.1.0';
/** The image the repository's Dockerfile builds: `npm run image` tags it `localhost/agentway:<package version>`. */
export const DEFAULT_IMAGE = `localhost/agentway:${PACKAGE_VERSION}`;

/** Namespace of the controller, the route server, the model router and the Gateway. */
export const DEFAULT_NAMESPACE = 'agentway-system';
/** The Gateway every route attaches to. */
export const DEFAULT_GATEWAY_NAME = 'agentway-gateway';
/** GatewayClass of the Gateway agentway creates. */
export const DEFAULT_GATEWAY_CLASS = 'agentway';
/** HTTP listener port of the Gateway. */
export const DEFAULT_GATEWAY_PORT = 80;

export const CONTROLLER_NAME = 'agentway-controller';
export const LEASE_NAME = 'agentway-controller';
/** Name of the route server's Deployment, Service and ServiceAccount. */
export const ROUTE_SERVER_NAME = 'agentway-route-server';
/** Name of the model router's Deployment, Service and ServiceAccount. */
export const ROUTER_NAME = 'agentway-router';
/** Path prefix the Gateway sends to the model router. */
export const DEFAULT_ROUTER_PREFIX = '/v1';

/** The ports each process listens on, and the install's Services and probes point at. */
export const PORTS = {
  /** Controller `/metrics`. */
  controllerMetrics: 8080,
  /** Controller `/healthz` and `/readyz`. */
  controllerProbes: 8081,
  /** Route server (forwardAuth, proxy, `/healthz`, `/metrics`). */
  routeServer: 8090,
  /** Model router's OpenAI API. */
  router: 8000,
  /** Model router's admin API. */
  routerAdmin: 8001,
  /** Model router's `/metrics`, `/healthz` and `/readyz`. */
  routerMetrics: 8082,
} as const;

/** Container and Service port of a workload whose CR sets none (the CRD's default of `spec.port`). */
export const DEFAULT_WORKLOAD_PORT = 8000;
