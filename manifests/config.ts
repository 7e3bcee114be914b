/** What render needs beyond the CR: controller configuration and facts the controller read from the cluster. */
import { ClientPool, TimeoutKey } from './api.js';
import { SchedulingPolicy } from './scheduling-policy.js';

export interface GatewayConfig {
  /** @default 'agentway-gateway' */
  readonly name: string;
  /** @default 'agentway-system' */
  readonly namespace: string;
  /** GatewayClass of the Gateway agentway creates. @default 'agentway' */
  readonly className: string;
  /** HTTP listener port. @default 80 */
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
  /** Name of the route server's Service and of its ServiceAccount. @default 'agentway-route-server' */
  readonly name: string;
  /** @default 'agentway-system' */
  readonly namespace: string;
  /** @default 8090 */
  readonly port: number;
}

export interface RouterConfig {
  /** Path prefix the Gateway sends to the model router, and of the ModelAPIs' header-match rules. @default '/v1' */
  readonly prefix: string;
  /** Service name of the model router. @default 'agentway-router' */
  readonly name: string;
  /** @default 'agentway-system' */
  readonly namespace: string;
  /** Port of the router's OpenAI API. @default 8000 */
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
  const name = g.name ?? 'agentway-gateway';
  const namespace = g.namespace ?? 'agentway-system';
  return {
    gateway: {
      name,
      namespace,
      className: g.className ?? 'agentway',
      port: g.port ?? 80,
      create: g.create ?? true,
      url: g.url ?? `http://${name}.${namespace}.svc`,
      requestTimeouts: g.requestTimeouts ?? true,
    },
    defaultTimeouts: { ...DEFAULT_TIMEOUTS, ...stripUndefined(overrides.defaultTimeouts ?? {}) },
    traefik: { enabled: false, entryPoints: ['web'], ...stripUndefined(overrides.traefik ?? {}) },
    routeServer: { name: 'agentway-route-server', namespace: 'agentway-system', port: 8090, ...stripUndefined(overrides.routeServer ?? {}) },
    router: { prefix: '/v1', name: 'agentway-router', namespace: 'agentway-system', port: 8000, ...stripUndefined(overrides.router ?? {}) },
    policy: stripUndefined(overrides.policy ?? {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
