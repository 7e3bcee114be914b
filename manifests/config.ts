/** What render needs beyond the CR: controller configuration and facts the controller read from the cluster. */
import { ClientPool, TimeoutKey } from './api.js';
import {
  DEFAULT_GATEWAY_CLASS, DEFAULT_GATEWAY_NAME, DEFAULT_GATEWAY_PORT, DEFAULT_NAMESPACE, DEFAULT_ROUTER_PREFIX, PORTS, ROUTER_NAME, ROUTE_SERVER_NAME,
} from './defaults.js';
import { SchedulingPolicy } from './scheduling-policy.js';

export interface GatewayConfig {
  /** @default DEFAULT_GATEWAY_NAME */
  readonly name: string;
  /** @default DEFAULT_NAMESPACE */
  readonly namespace: string;
  /** GatewayClass of the Gateway agentway creates. @default DEFAULT_GATEWAY_CLASS */
  readonly className: string;
  /** HTTP listener port. @default DEFAULT_GATEWAY_PORT */
  readonly port: number;
  /** Render the Gateway itself. @default true */
  readonly create: boolean;
  /** Base URL workloads reach the Gateway at, for MODEL_API_URL and MCP_SERVERS. @default `http://{name}.{namespace}.svc` */
  readonly url: string;
  /**
   * Whether the GatewayClass supports HTTPRouteRequestTimeout; false omits route timeouts.
   * @default true
   */
  readonly requestTimeouts: boolean;
}

export interface RouteServerConfig {
  /** Name of the route server's Service and of its ServiceAccount. @default ROUTE_SERVER_NAME */
  readonly name: string;
  /** @default DEFAULT_NAMESPACE */
  readonly namespace: string;
  /** @default PORTS.routeServer */
  readonly port: number;
}

export interface RouterConfig {
  /** Path prefix the Gateway sends to the model router, and of the ModelAPIs' header-match rules. @default DEFAULT_ROUTER_PREFIX */
  readonly prefix: string;
  /** Service name of the model router. @default ROUTER_NAME */
  readonly name: string;
  /** @default DEFAULT_NAMESPACE */
  readonly namespace: string;
  /** Port of the router's OpenAI API. @default PORTS.router */
  readonly port: number;
}

export interface TraefikConfig {
  /** Render a forwardAuth Middleware and an IngressRoute for users on Traefik. @default false */
  readonly enabled: boolean;
  /** Traefik entry points of the IngressRoute. @default ['web'] */
  readonly entryPoints: readonly string[];
}

export interface RenderConfig {
  readonly gateway: GatewayConfig;
  readonly traefik: TraefikConfig;
  /** Route timeouts per kind when a CR sets none. */
  readonly defaultTimeouts: Readonly<Record<TimeoutKey, string>>;
  readonly routeServer: RouteServerConfig;
  readonly router: RouterConfig;
  /** Where CRs may ask to be scheduled. @default no restriction */
  readonly policy: SchedulingPolicy;
}

export interface RenderEnv {
  readonly config: RenderConfig;
  /**
   * Route weight per pool name, from live capacity (DESIGN §4).
   * @default weights from each pool's replicas and accelerators
   */
  readonly weights?: Readonly<Record<string, number>>;
  /** For a ClientInstance: its ClientPool (required to render one). */
  readonly clientPool?: ClientPool;
}

export const DEFAULT_TIMEOUTS: Readonly<Record<TimeoutKey, string>> = { agent: '120s', modelapi: '120s', mcp: '30s', client: '120s' };

export interface ConfigOverrides {
  readonly gateway?: Partial<GatewayConfig>;
  readonly defaultTimeouts?: Partial<Record<TimeoutKey, string>>;
  readonly routeServer?: Partial<RouteServerConfig>;
  readonly traefik?: Partial<TraefikConfig>;
  readonly router?: Partial<RouterConfig>;
  readonly policy?: SchedulingPolicy;
}

/** A complete RenderConfig: the defaults above, with `overrides` on top. */
export function renderConfig(overrides: ConfigOverrides = {}): RenderConfig {
  const g = overrides.gateway ?? {};
  const name = g.name ?? DEFAULT_GATEWAY_NAME;
  const namespace = g.namespace ?? DEFAULT_NAMESPACE;
  return {
    gateway: {
      name,
      namespace,
      className: g.className ?? DEFAULT_GATEWAY_CLASS,
      port: g.port ?? DEFAULT_GATEWAY_PORT,
      create: g.create ?? true,
      url: g.url ?? `http://${name}.${namespace}.svc`,
      requestTimeouts: g.requestTimeouts ?? true,
    },
    defaultTimeouts: { ...DEFAULT_TIMEOUTS, ...stripUndefined(overrides.defaultTimeouts ?? {}) },
    traefik: { enabled: false, entryPoints: ['web'], ...stripUndefined(overrides.traefik ?? {}) },
    routeServer: { name: ROUTE_SERVER_NAME, namespace: DEFAULT_NAMESPACE, port: PORTS.routeServer, ...stripUndefined(overrides.routeServer ?? {}) },
    router: { prefix: DEFAULT_ROUTER_PREFIX, name: ROUTER_NAME, namespace: DEFAULT_NAMESPACE, port: PORTS.router, ...stripUndefined(overrides.router ?? {}) },
    policy: stripUndefined(overrides.policy ?? {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
