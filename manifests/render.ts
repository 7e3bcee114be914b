/**
 * The render core: one CR in, the Kubernetes objects that serve it out. Pure and deterministic: no
 * clock, no randomness, no I/O. `agentway synth`, `cdk8s synth` and the controller all call `render`.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import {
  Agent, AgentwayResource, Capacity, ClientInstance, ClientPool, FieldError, KINDS, KubeObject, ModelAPI, ModelAccess,
  WorkloadResource, EnvVar,
} from './api.js';
import { RenderConfig, RenderEnv } from './config.js';
import { ROUTER_NAME } from './defaults.js';
import { AgentwayGateway, RouteServerGrant, TraefikClientRoutes } from './gateway.js';
import { ApiKeyAccess, apiKeyAccessName } from './key-access.js';
import { LABELS, MANAGED_BY, instanceLabels, objectName, poolObjectName, poolSelector, routePath } from './names.js';
import { schedulingPolicyErrors } from './scheduling-policy.js';
import { Route, RouteBackend, RouteProps } from './route.js';
import { validateResource } from './validate.js';
import { computeWeights } from './weights.js';
import { WorkloadPool } from './workload.js';
import { RenderedPool, durationMs, gpuOf, renderedPools, resolvePools, runsNoWorkload } from './pools.js';

export { durationMs, renderedPools, runsNoWorkload } from './pools.js';
export type { RenderedPool } from './pools.js';

/** A CR's weighted route as the capacity tracker watches it: which pods, which pools, measured how. */
export interface CapacityTarget {
  readonly namespace: string;
  /** Value of the instance label on the CR's pods. */
  readonly instance: string;
  readonly pools: readonly RenderedPool[];
  readonly capacity: Capacity;
}

/**
 * The capacity target of a CR as read from the API server: undefined when it is invalid, has no route, or
 * runs no workload of its own. The same pools `render` renders, so the tracker and the route agree.
 */
export function capacityTarget(input: unknown): CapacityTarget | undefined {
  const { resource } = validateResource(input);
  if (!resource || (resource.kind !== 'Agent' && resource.kind !== 'ModelAPI' && resource.kind !== 'MCPServer')) return undefined;
  if (!resource.spec.gatewayRoute.enabled) return undefined;
  const pools = renderedPools(resource);
  if (pools.length === 0) return undefined;
  return {
    namespace: resource.metadata.namespace ?? 'default',
    instance: objectName(resource.kind, resource.metadata.name),
    pools,
    capacity: resource.spec.capacity,
  };
}

export interface RenderResult {
  /** Desired objects, in a fixed order; empty when there are errors. */
  readonly objects: readonly KubeObject[];
  readonly errors: readonly FieldError[];
  /** The CR with its defaults applied. */
  readonly resource?: AgentwayResource;
  /** Gateway path of the CR, when it has a route. */
  readonly endpoint?: string;
  readonly pools: readonly RenderedPool[];
}

/** The route timeout: the CR's, else the kind's default; none when it is zero or the Gateway can't. */
function routeTimeout(configured: string | undefined, fallback: string, config: RenderConfig): string | undefined {
  const timeout = configured ?? fallback;
  return config.gateway.requestTimeouts && durationMs(timeout) > 0 ? timeout : undefined;
}

function agentEnv(agent: Agent, namespace: string, config: RenderConfig): EnvVar[] {
  const url = (kind: 'ModelAPI' | 'MCPServer', name: string) => `${config.gateway.url}${routePath(namespace, kind, name)}`;
  const env: EnvVar[] = [];
  if (agent.spec.modelAPI) env.push({ name: 'MODEL_API_URL', value: url('ModelAPI', agent.spec.modelAPI) });
  if (agent.spec.mcpServers && agent.spec.mcpServers.length > 0) {
    env.push({ name: 'MCP_SERVERS', value: JSON.stringify(agent.spec.mcpServers.map((name) => ({ name, url: url('MCPServer', name) }))) });
  }
  return env;
}

/** Agent, ModelAPI and MCPServer: a Deployment and Service per pool and one weighted HTTPRoute. */
class WorkloadChart extends Chart {
  public readonly pools: RenderedPool[] = [];
  public readonly endpoint?: string;

  public constructor(scope: Construct, cr: WorkloadResource, env: RenderEnv) {
    super(scope, `${cr.kind}-${cr.metadata.name}`);
    const { config } = env;
    const { kind, spec } = cr;
    const name = cr.metadata.name;
    const namespace = cr.metadata.namespace ?? 'default';
    const labels = instanceLabels(kind, name);
    const extraEnv = cr.kind === 'Agent' ? agentEnv(cr, namespace, config) : [];
    // The router injects a provider's credential: it may read that one Secret, and no other.
    const credentials = cr.kind === 'ModelAPI' ? cr.spec.provider?.credentialsSecretRef : undefined;
    if (credentials) {
      new ApiKeyAccess(this, 'credentials', {
        name: `${objectName(kind, name)}-credentials`, namespace, labels, secretName: credentials.name,
        serviceAccount: { name: ROUTER_NAME, namespace: config.router.namespace },
      });
    }
    // A ModelAPI with `backend` or `provider` is served by servers agentway does not run: the router reaches them.
    if (runsNoWorkload(cr)) return;
    const { pools, explicit } = resolvePools(spec);

    for (const pool of pools) {
      const poolName = poolObjectName(kind, name, pool.name, explicit);
      new WorkloadPool(this, `pool-${pool.name}`, {
        namespace,
        name: poolName,
        labels: { ...labels, [LABELS.pool]: pool.name },
        selector: poolSelector(kind, name, pool.name),
        containerName: KINDS[kind].segment,
        image: spec.image!, // present: validation requires it of every CR that runs a workload
        command: spec.command,
        args: spec.args,
        env: [...extraEnv, ...(spec.env ?? [])],
        port: spec.port,
        replicas: pool.replicas,
        resources: pool.resources,
        nodeSelector: pool.nodeSelector,
        tolerations: pool.tolerations,
        healthPath: spec.health?.path,
      });
      this.pools.push({ name: pool.name, objectName: poolName, replicas: pool.replicas, gpu: gpuOf(pool.resources), port: spec.port });
    }

    if (!spec.gatewayRoute.enabled) return;
    const byReplicas = computeWeights(this.pools.map((p) => ({ name: p.name, ready: p.replicas, capacity: p.replicas * Math.max(1, p.gpu) })));
    const weight = (pool: string) => env.weights?.[pool] ?? byReplicas.weights[pool];
    this.endpoint = routePath(namespace, kind, name);
    new Route(this, 'route', {
      namespace,
      name: objectName(kind, name),
      labels,
      gateway: config.gateway,
      pathPrefix: this.endpoint,
      timeout: routeTimeout(spec.gatewayRoute.timeout, config.defaultTimeouts[KINDS[kind].timeoutKey], config),
      hostnames: spec.gatewayRoute.hostnames,
      backends: this.pools.map((p): RouteBackend => ({ service: p.objectName, port: p.port, weight: weight(p.name), gpu: p.gpu > 0 })),
      headerMatches: cr.kind === 'ModelAPI' ? modelHeaderMatches(cr, config) : undefined,
    });
  }
}

/**
 * The header-native path of a ModelAPI (DESIGN §8): at the router prefix, `x-agentway-model: <model>` (and
 * `x-owned-by: <engine>`, lower-cased, when the ModelAPI names one) goes straight to its own backends.
 */
function modelHeaderMatches(cr: ModelAPI, config: RenderConfig): RouteProps['headerMatches'] {
  const engine = cr.spec.ownedBy?.toLowerCase();
  return {
    pathPrefix: config.router.prefix,
    headers: (cr.spec.models ?? []).map((model) => [
      { name: 'x-agentway-model', value: model },
      ...(engine ? [{ name: 'x-owned-by', value: engine }] : []),
    ]),
  };
}

/** ClientPool: no workload of its own; a catch-all route that sends unknown instances to the route server. */
class ClientPoolChart extends Chart {
  public readonly endpoint?: string;

  public constructor(scope: Construct, cr: ClientPool, env: RenderEnv) {
    super(scope, `${cr.kind}-${cr.metadata.name}`);
    const { config } = env;
    const name = cr.metadata.name;
    const namespace = cr.metadata.namespace ?? 'default';
    const labels = instanceLabels(cr.kind, name);
    new ApiKeyAccess(this, 'api-keys', {
      name: apiKeyAccessName(objectName(cr.kind, name)), namespace, labels,
      secretName: cr.spec.apiKeys.secretRef.name,
      serviceAccount: { name: config.routeServer.name, namespace: config.routeServer.namespace },
    });
    if (!cr.spec.gatewayRoute.enabled) return;
    this.endpoint = routePath(namespace, cr.kind, name);
    new Route(this, 'route', {
      namespace,
      name: objectName(cr.kind, name),
      labels,
      gateway: config.gateway,
      pathPrefix: this.endpoint,
      // The route server reads pool, client and instance from the path: it gets the path unchanged.
      rewrite: false,
      timeout: routeTimeout(cr.spec.gatewayRoute.timeout, config.defaultTimeouts.client, config),
      hostnames: cr.spec.gatewayRoute.hostnames,
      backends: [{ service: config.routeServer.name, namespace: config.routeServer.namespace, port: config.routeServer.port, weight: 1 }],
    });
    if (namespace !== config.routeServer.namespace) {
      new RouteServerGrant(this, 'grant', {
        fromNamespace: namespace,
        service: config.routeServer,
        labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'ReferenceGrant' },
      });
    }
  }
}

/** ClientInstance: one pod of its pool's template, with its own Service and route. */
class ClientInstanceChart extends Chart {
  public readonly pools: RenderedPool[] = [];
  public readonly endpoint?: string;

  public constructor(scope: Construct, cr: ClientInstance, pool: ClientPool, env: RenderEnv) {
    super(scope, `${cr.kind}-${cr.metadata.name}`);
    const { config } = env;
    const t = pool.spec.template;
    const name = cr.metadata.name;
    const namespace = cr.metadata.namespace ?? 'default';
    const objName = objectName(cr.kind, name);
    const labels = { ...instanceLabels(cr.kind, name), [LABELS.clientPool]: cr.spec.pool };
    new WorkloadPool(this, 'pool', {
      namespace,
      name: objName,
      labels: { ...labels, [LABELS.pool]: 'default' },
      selector: poolSelector(cr.kind, name, 'default'),
      containerName: KINDS[cr.kind].segment,
      image: t.image,
      command: t.command,
      args: t.args,
      env: [
        { name: 'AGENTWAY_CLIENT_ID', value: cr.spec.client },
        { name: 'AGENTWAY_INSTANCE_ID', value: cr.spec.instance },
        ...(t.env ?? []),
      ],
      port: t.port,
      replicas: 1,
      resources: t.resources,
      nodeSelector: t.nodeSelector,
      tolerations: t.tolerations,
      healthPath: t.health?.path,
    });
    this.pools.push({ name: 'default', objectName: objName, replicas: 1, gpu: gpuOf(t.resources), port: t.port });
    if (!pool.spec.gatewayRoute.enabled) return;
    this.endpoint = `${routePath(namespace, 'ClientPool', cr.spec.pool)}/${cr.spec.client}/${cr.spec.instance}`;
    new Route(this, 'route', {
      namespace,
      name: objName,
      labels,
      gateway: config.gateway,
      pathPrefix: this.endpoint,
      timeout: routeTimeout(pool.spec.gatewayRoute.timeout, config.defaultTimeouts.client, config),
      hostnames: pool.spec.gatewayRoute.hostnames,
      backends: [{ service: objName, port: t.port, weight: 1 }],
    });
  }
}

/** The Role and RoleBinding that let the model router read a ModelAccess's key Secret, and nothing else. */
export function modelAccessGrant(access: ModelAccess, config: RenderConfig): KubeObject[] {
  const app = newApp();
  const chart = new Chart(app, `ModelAccess-${access.metadata.name}`);
  const namespace = access.metadata.namespace ?? 'default';
  new ApiKeyAccess(chart, 'api-keys', {
    name: `modelaccess-${access.metadata.name}-api-keys`, namespace, secretName: access.spec.apiKeys.secretRef.name,
    labels: {
      [LABELS.name]: 'modelaccess', [LABELS.instance]: `modelaccess-${access.metadata.name}`, [LABELS.component]: 'ModelAccess', [LABELS.managedBy]: MANAGED_BY,
    },
    serviceAccount: { name: ROUTER_NAME, namespace: config.router.namespace },
  });
  return chartObjects(chart);
}

/**
 * The chart's objects, as `chart.toJson()` returns them. `toJson` first infers dependencies across the
 * whole App, runs every construct's validations and orders the objects by their dependencies; a chart of
 * render has neither dependencies nor validations nor charts inside it, so its objects come in construct
 * order, and each is asked for its JSON directly (a sixth of render's time saved). A chart that has any of
 * them takes `toJson`.
 */
export function chartObjects(chart: Chart): KubeObject[] {
  const constructs = chart.node.findAll();
  const plain = constructs.every((c) => c.node.dependencies.length === 0 && (c === chart || !Chart.isChart(c)) && c.node.validate().length === 0);
  if (!plain) return chart.toJson() as KubeObject[];
  return constructs.filter((c): c is ApiObject => ApiObject.isApiObject(c)).map((o) => o.toJson() as KubeObject);
}

function newApp(): App {
  // Explicit props: otherwise the App takes its defaults from CDK8S_* environment variables.
  return new App({ outdir: 'unused', recordConstructMetadata: false });
}

function failed(errors: readonly FieldError[]): RenderResult {
  return { objects: [], errors, pools: [] };
}

/** Renders one CR (as read from a file or from the API server) into the objects that serve it. */
export function render(input: unknown, env: RenderEnv): RenderResult {
  const { resource, errors } = validateResource(input);
  if (!resource) return failed(errors);
  const denied = schedulingPolicyErrors(resource, env.config.policy);
  if (denied.length > 0) return failed(denied);
  const app = newApp();
  let chart: WorkloadChart | ClientPoolChart | ClientInstanceChart;
  switch (resource.kind) {
    case 'Agent': case 'ModelAPI': case 'MCPServer':
      chart = new WorkloadChart(app, resource, env);
      break;
    case 'ClientPool':
      chart = new ClientPoolChart(app, resource, env);
      break;
    case 'ClientInstance': {
      const pool = env.clientPool;
      if (!pool || pool.metadata.name !== resource.spec.pool) {
        return failed([{ path: 'spec.pool', message: `ClientPool "${resource.spec.pool}" not found in namespace "${resource.metadata.namespace ?? 'default'}"` }]);
      }
      const checked = validateResource(pool);
      const poolErrors = checked.resource ? schedulingPolicyErrors(checked.resource, env.config.policy) : checked.errors;
      if (poolErrors.length > 0) return failed(poolErrors.map((e) => ({ path: 'spec.pool', message: `ClientPool "${pool.metadata.name}" is invalid: ${e.path}: ${e.message}` })));
      chart = new ClientInstanceChart(app, resource, checked.resource! as ClientPool, env);
      break;
    }
  }
  return {
    objects: chartObjects(chart),
    errors: [],
    resource,
    endpoint: chart.endpoint,
    pools: 'pools' in chart ? chart.pools : [],
  };
}

/** Objects shared by every CR: the Gateway, when agentway creates it, and the Traefik routes, when asked for. */
export function renderShared(config: RenderConfig): readonly KubeObject[] {
  const app = newApp();
  const chart = new Chart(app, 'shared');
  if (config.gateway.create) {
    new AgentwayGateway(chart, 'gateway', { ...config.gateway, labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'Gateway' } });
  }
  if (config.traefik.enabled) {
    new TraefikClientRoutes(chart, 'traefik', {
      routeServer: config.routeServer, entryPoints: config.traefik.entryPoints,
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'route-server' },
    });
  }
  return chart.toJson() as KubeObject[];
}
