/**
 * Our CustomResourceDefinitions, defined once. The same OpenAPI schemas serve the API server (as CRDs)
 * and the synth path (validated and defaulted with ajv in validate.ts), so both see identical defaults.
 */
import { ALL_KINDS, DATA_CLASSES, GROUP, KINDS, Kind, KubeObject, MODEL_ACCESS_INFO, MODEL_ROUTE_INFO, PROVIDER_TYPES, VERSION } from './api.js';
import { DEFAULT_WORKLOAD_PORT } from './defaults.js';

export type Schema = Record<string, unknown>;

/** Maximum length of any derived object name (a DNS-1035 label, also a label value). */
export const MAX_NAME = 63;
/** Longest pool name; `{segment}-{name}-{pool}` must still fit MAX_NAME (checked in validate.ts). */
export const MAX_POOL_NAME = 20;
export const DNS_LABEL = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
export const DURATION = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
const EXTENDED_RESOURCE = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
/**
 * Upper bounds of numbers. `format: int32` is enforced neither by the API server nor by ajv, so each
 * number states its own maximum: a value beyond it would render an object the API server refuses.
 */
export const LIMITS = {
  replicas: 10_000,
  gpu: 64,
  port: 65_535,
  maxInstances: 10_000,
  maxInstancesPerClient: 1_000,
  tolerationSeconds: 2_147_483_647,
  /** A quantity given as a number: beyond this JSON numbers lose integer precision. */
  quantity: Number.MAX_SAFE_INTEGER,
} as const;
export const QUANTITY = '^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$';

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', format: 'int32', description, ...extra });
const strings = (description: string, item: Schema = { type: 'string' }): Schema => ({ type: 'array', description, items: item });
const stringMap = (description: string): Schema => ({ type: 'object', description, additionalProperties: { type: 'string' } });
const obj = (description: string, properties: Record<string, Schema>, required?: string[], extra: Schema = {}): Schema => ({
  type: 'object', description, properties, ...(required ? { required } : {}), ...extra,
});
// The API server takes int-or-string only as exactly `anyOf: [{type: integer}, {type: string}]`; the checks
// sit beside it (pattern applies to strings, minimum to numbers).
const quantity = (description: string): Schema => ({
  description, 'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }], minimum: 0, maximum: LIMITS.quantity, pattern: QUANTITY,
});

const modelId: Schema = { type: 'string', minLength: 1, maxLength: 256 };
export const HTTP_URL = '^https?://[^\\s/?#]+([/?#][^\\s]*)?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const price = (description: string): Schema => ({ type: 'number', description, minimum: 0, maximum: 1000000 });
const pricing = obj('USD per million tokens; a missing price counts 0.', {
  inputPer1M: price('Prompt tokens.'), outputPer1M: price('Completion tokens.'), cachedInputPer1M: price('Prompt tokens read from the provider\'s cache.'),
});

const labelSelector = obj('Label selector of the Services.', {
  matchLabels: stringMap('Labels a Service must carry.'),
  matchExpressions: {
    type: 'array', description: 'Label expressions a Service must satisfy.',
    items: obj('A label expression.', {
      key: str('Label key.', { minLength: 1, maxLength: 316 }),
      operator: str('In, NotIn, Exists or DoesNotExist.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
      values: strings('Values for In and NotIn.'),
    }, ['key', 'operator']),
  },
});

const resources = obj('Compute resources of each replica.', {
  cpu: quantity('CPU request, e.g. "500m" or "8".'),
  memory: quantity('Memory request and limit, e.g. "1Gi".'),
  gpu: int('Accelerators per replica; > 0 adds a limit on gpuResource and a matching toleration.', { minimum: 0, maximum: LIMITS.gpu }),
  gpuResource: str('Extended resource name of the accelerator.', { default: 'nvidia.com/gpu', maxLength: 253, pattern: EXTENDED_RESOURCE }),
});

const toleration = obj('A Pod toleration.', {
  key: str('Taint key.', { maxLength: 316 }),
  operator: str('Exists or Equal.', { enum: ['Exists', 'Equal'] }),
  value: str('Taint value.', { maxLength: 63 }),
  effect: str('Taint effect.', { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] }),
  tolerationSeconds: { type: 'integer', format: 'int64', description: 'For NoExecute: how long the pod stays.', maximum: LIMITS.tolerationSeconds },
});

const envVar = obj('An environment variable of the container.', {
  name: str('Variable name.', { minLength: 1, maxLength: 256, pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$' }),
  value: str('Literal value.'),
  valueFrom: obj('Value from a Secret key.', {
    secretKeyRef: obj('Secret and key.', { name: str('Secret name.', { minLength: 1, maxLength: 253 }), key: str('Key in the Secret.', { minLength: 1, maxLength: 253 }) }, ['name', 'key']),
  }, ['secretKeyRef']),
}, ['name']);

const pool = obj('A group of replicas with its own resources, Deployment, Service and route weight.', {
  name: str('Pool name; part of the derived Deployment and Service names.', { minLength: 1, maxLength: MAX_POOL_NAME, pattern: DNS_LABEL }),
  replicas: int('Replicas of this pool.', { minimum: 0, maximum: LIMITS.replicas, default: 1 }),
  resources,
  nodeSelector: stringMap('Node labels the pool is scheduled on.'),
  tolerations: { type: 'array', description: 'Tolerations of the pool.', items: toleration },
}, ['name']);

const capacity = obj('Where the free capacity of each pool comes from (for the route weights).', {
  source: str('replicas: ready replicas x accelerators; endpoint: polled from each ready pod.', { enum: ['replicas', 'endpoint'], default: 'replicas' }),
  path: str('Path polled on each pod when source is endpoint.', { default: '/capacity', pattern: '^/' }),
  metric: str('Field of the capacity answer that counts.', { enum: ['gpus', 'cpus', 'memory', 'idleWorkers'], default: 'gpus' }),
  intervalSeconds: int('Seconds between polls.', { minimum: 1, maximum: 3600, default: 2 }),
}, undefined, { default: {} });

const gatewayRoute = obj('The HTTPRoute that puts this resource behind the Gateway.', {
  enabled: { type: 'boolean', description: 'Render an HTTPRoute.', default: true },
  timeout: str('Request timeout, e.g. "300s"; "0s" disables it. Default: the kind\'s default.', { pattern: DURATION }),
  hostnames: strings('Hostnames the route answers for.', { type: 'string', maxLength: 253, pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' }),
}, undefined, { default: {} });

function workloadProperties(template: boolean): Record<string, Schema> {
  return {
    image: str('Container image.', { minLength: 1 }),
    command: strings('Entrypoint override.'),
    args: strings('Arguments.'),
    env: { type: 'array', description: 'Environment variables.', items: envVar },
    port: int('Container and Service port.', { minimum: 1, maximum: LIMITS.port, default: DEFAULT_WORKLOAD_PORT }),
    ...(template ? {} : { replicas: int('Replicas (of the single default pool when pools is absent).', { minimum: 0, maximum: LIMITS.replicas, default: 1 }) }),
    resources,
    nodeSelector: stringMap('Node labels the pods are scheduled on.'),
    tolerations: { type: 'array', description: 'Pod tolerations.', items: toleration },
    health: obj('HTTP readiness and liveness probes on port.', { path: str('Probe path.', { pattern: '^/' }) }, ['path']),
    ...(template ? {} : {
      pools: {
        type: 'array', description: 'Pools of replicas; absent means one pool named "default" from the fields above.',
        items: pool, minItems: 1, maxItems: 16,
        'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
      },
    }),
    capacity,
  };
}

const condition = obj('A status condition.', {
  type: str('Condition type.'),
  status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
  reason: str('CamelCase reason.'),
  message: str('Human-readable detail.'),
  observedGeneration: { type: 'integer', format: 'int64', description: 'Generation the condition describes.' },
  lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
}, ['type', 'status']);

const status = (extra: Record<string, Schema> = {}): Schema => obj('Observed state.', {
  observedGeneration: { type: 'integer', format: 'int64', description: 'Generation last reconciled.' },
  conditions: {
    type: 'array', description: 'Ready, RouteAccepted, CapacityAvailable.', items: condition,
    'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
  },
  endpoint: str('Gateway path of this resource.'),
  ...extra,
});

const poolStatus = {
  pools: {
    type: 'array', description: 'Per-pool ready replicas, free capacity and route weight.',
    items: obj('Pool state.', {
      name: str('Pool name.'), ready: int('Ready endpoints.'), capacity: { type: 'number', description: 'Free capacity.' }, weight: int('Route weight.'),
    }, ['name']),
  },
};

function specSchema(kind: Kind): Schema {
  switch (kind) {
    case 'Agent':
      return obj('Desired state of the Agent.', {
        ...workloadProperties(false),
        modelAPI: str('ModelAPI in the same namespace; its Gateway URL is passed as MODEL_API_URL.', { pattern: DNS_LABEL, maxLength: 63 }),
        mcpServers: strings('MCPServers in the same namespace; passed as MCP_SERVERS (JSON).', { type: 'string', pattern: DNS_LABEL, maxLength: 63 }),
        gatewayRoute,
      }, ['image']);
    case 'ModelAPI':
      // image is required unless backend is set: checked in validate.ts, since a structural schema cannot say it.
      return obj('Desired state of the ModelAPI.', {
        ...workloadProperties(false),
        models: { ...strings('Model ids served, as clients name them in "model".', modelId), maxItems: 64 },
        ownedBy: str('Serving engine, e.g. vllm, sglang, ollama; compared case-insensitively.', { minLength: 1, maxLength: 63 }),
        backend: obj('Model servers agentway does not run: no Deployment is rendered; the router reaches the ready endpoints of the Services that match selector.', {
          selector: labelSelector,
          port: int('Service port; mapped to each EndpointSlice port by the port name.', { minimum: 1, maximum: 65535 }),
        }, ['selector', 'port']),
        provider: obj('An external provider the model router calls: no workload is rendered.', {
          type: str('Provider API.', { enum: [...PROVIDER_TYPES] }),
          url: str('Base URL as the provider\'s SDK takes it: OpenAI-style and Ollama include /v1, Anthropic has none, Bedrock is the runtime endpoint.', { pattern: HTTP_URL, maxLength: 2048 }),
          region: str('AWS region (Bedrock).', { pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$', maxLength: 32 }),
          model: str('Provider model id sent in place of the one asked for.', { minLength: 1, maxLength: 256 }),
          credentialsSecretRef: obj('Secret key holding the API key (Bedrock: JSON {accessKeyId, secretAccessKey, sessionToken?} or accessKeyId:secretAccessKey).', {
            name: str('Secret name.', { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }),
            key: str('Key in the Secret.', { minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' }),
          }, ['name', 'key']),
        }, ['type', 'url']),
        dataClass: str('Highest data class this ModelAPI may receive. Default: restricted in the cluster, public for a provider.', { enum: [...DATA_CLASSES] }),
        pricing,
        gatewayRoute,
      });
    case 'MCPServer':
      return obj('Desired state of the MCPServer.', { ...workloadProperties(false), gatewayRoute }, ['image']);
    case 'ClientPool':
      return obj('Desired state of the ClientPool.', {
        template: obj('Workload of each client instance (one replica each).', workloadProperties(true), ['image']),
        apiKeys: obj('API keys of the clients.', {
          secretRef: obj('Secret whose data maps clientId to apiKey.', { name: str('Secret name.', { minLength: 1, maxLength: 253 }) }, ['name']),
        }, ['secretRef']),
        idleTimeout: str('Idle instances are deleted after this long.', { pattern: DURATION, default: '30m' }),
        maxInstancesPerClient: int('Instances one client may hold.', { minimum: 1, maximum: LIMITS.maxInstancesPerClient, default: 3 }),
        maxInstances: int('Instances the pool may hold.', { minimum: 1, maximum: LIMITS.maxInstances, default: 100 }),
        gatewayRoute,
      }, ['template', 'apiKeys']);
    case 'ClientInstance':
      return obj('Desired state of the ClientInstance.', {
        pool: str('ClientPool in the same namespace.', { pattern: DNS_LABEL, maxLength: 63 }),
        client: str('Client id (never the API key).', { pattern: DNS_LABEL, maxLength: 63 }),
        instance: str('Instance id chosen by the client.', { pattern: DNS_LABEL, maxLength: 63 }),
      }, ['pool', 'client', 'instance']);
  }
}

const discoveredModels = {
  discoveredModels: {
    type: 'array', description: 'Models the servers reported on GET /v1/models.',
    items: obj('A discovered model.', { id: str('Model id.'), ownedBy: str('Engine the server reported.') }, ['id']),
  },
};

/** Longest `metadata.name` of a kind such that `{segment}-{name}` fits MAX_NAME. */
export function maxNameLength(kind: Kind): number {
  return MAX_NAME - KINDS[kind].segment.length - 1;
}

/** The OpenAPI v3 schema of one kind, as it appears in its CRD. */
export function openApiSchema(kind: Kind): Schema {
  const extraStatus: Record<string, Schema> = kind === 'ClientInstance'
    ? { lastActivityTime: str('Last request seen for this instance.', { format: 'date-time' }) }
    : kind === 'ClientPool' ? { instances: int('ClientInstances of the pool.') }
      : kind === 'ModelAPI' ? { ...poolStatus, ...discoveredModels } : poolStatus;
  return obj(`${kind} of agentway.dev.`, {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', properties: { name: { type: 'string', maxLength: maxNameLength(kind), pattern: DNS_LABEL } } },
    spec: specSchema(kind),
    status: status(extraStatus),
  }, ['spec']);
}

const ready = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' };
const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function printerColumns(kind: Kind): Schema[] {
  if (kind === 'ClientInstance') {
    return [ready, { name: 'Pool', type: 'string', jsonPath: '.spec.pool' }, { name: 'Client', type: 'string', jsonPath: '.spec.client' },
      { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' }, { name: 'Last Activity', type: 'date', jsonPath: '.status.lastActivityTime' }, age];
  }
  if (kind === 'ModelAPI') {
    return [ready, { name: 'Models', type: 'string', jsonPath: '.spec.models' }, { name: 'Engine', type: 'string', jsonPath: '.spec.ownedBy' },
      { name: 'Provider', type: 'string', jsonPath: '.spec.provider.type' }, { name: 'Class', type: 'string', priority: 1, jsonPath: '.spec.dataClass' },
      { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
      { name: 'Reason', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Ready")].reason' }, age];
  }
  return [ready, { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
    { name: 'Reason', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Ready")].reason' }, age];
}

/** The CustomResourceDefinition of one kind. */
export function crdObject(kind: Kind): KubeObject {
  const info = KINDS[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'agentway', 'app.kubernetes.io/part-of': 'agentway' } },
    spec: {
      group: GROUP,
      names: { kind, listKind: `${kind}List`, plural: info.plural, singular: info.singular, shortNames: [...info.shortNames], categories: ['agentway'] },
      scope: 'Namespaced',
      versions: [{
        name: VERSION, served: true, storage: true,
        schema: { openAPIV3Schema: openApiSchema(kind) },
        subresources: { status: {} },
        additionalPrinterColumns: printerColumns(kind),
      }],
    },
  };
}

/** The ModelRoute schema: where requests for a model (and engine) go. It renders nothing. */
export function modelRouteSchema(): Schema {
  const target = obj('A ModelAPI or a Service that serves the model.', {
    modelAPI: str('ModelAPI in the same namespace.', { pattern: DNS_LABEL, maxLength: 63 }),
    service: obj('Service in the same namespace, reached through its EndpointSlices.', {
      name: str('Service name.', { pattern: DNS_LABEL, maxLength: 63 }),
      port: int('Service port.', { minimum: 1, maximum: 65535 }),
    }, ['name', 'port']),
    model: str('Model id sent upstream in place of the one asked for.', modelId),
    weight: int('Share of the requests under the weighted strategy.', { minimum: 0, maximum: 1000000 }),
    priority: int('Under the priority strategy, the lowest value with a ready endpoint serves.', { minimum: 0, maximum: 1000000 }),
  });
  return obj('ModelRoute of agentway.dev.', {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', properties: { name: { type: 'string', maxLength: MAX_NAME, pattern: DNS_LABEL } } },
    spec: obj('Where requests for model go; overrides the ModelAPIs that declare it.', {
      model: str('Model id asked for.', modelId),
      ownedBy: str('Engine asked for; absent applies to every request for model. The more specific route wins.', { minLength: 1, maxLength: 63 }),
      strategy: str('How a target is chosen.', { enum: ['capacity', 'weighted', 'priority', 'cheapest'], default: 'capacity' }),
      targets: { type: 'array', description: 'ModelAPIs or Services that serve the model.', items: target, minItems: 1, maxItems: 64 },
    }, ['model', 'targets']),
  }, ['spec']);
}

/** The ModelRoute CustomResourceDefinition. */
export function modelRouteCrd(): KubeObject {
  const info = MODEL_ROUTE_INFO;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'agentway', 'app.kubernetes.io/part-of': 'agentway' } },
    spec: {
      group: GROUP,
      names: { kind: info.kind, listKind: `${info.kind}List`, plural: info.plural, singular: info.singular, shortNames: [...info.shortNames], categories: ['agentway'] },
      scope: 'Namespaced',
      versions: [{
        name: VERSION, served: true, storage: true,
        schema: { openAPIV3Schema: modelRouteSchema() },
        additionalPrinterColumns: [
          { name: 'Model', type: 'string', jsonPath: '.spec.model' },
          { name: 'Engine', type: 'string', jsonPath: '.spec.ownedBy' },
          { name: 'Strategy', type: 'string', jsonPath: '.spec.strategy' },
          { name: 'Targets', type: 'string', priority: 1, jsonPath: '.spec.targets' },
          age,
        ],
      }],
    },
  };
}

/**
 * The ModelAccess schema: the clients of the model router. It renders nothing but read access to its Secret,
 * and its status says whether that access is in place.
 */
export function modelAccessSchema(): Schema {
  return obj('ModelAccess of agentway.dev.', {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', properties: { name: { type: 'string', maxLength: MAX_NAME - 'modelaccess--api-keys'.length, pattern: DNS_LABEL } } },
    spec: obj('Clients of the model router: keys, data class, allowed models and limits.', {
      apiKeys: obj('API keys of the clients; they send Authorization: Bearer <apiKey>.', {
        secretRef: obj('Secret whose data maps clientId to apiKey.', { name: str('Secret name.', { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN }) }, ['name']),
      }, ['secretRef']),
      dataClass: str('Data class of the clients\' requests; a request may raise it with x-agentway-data-class, never lower it.', { enum: [...DATA_CLASSES], default: 'internal' }),
      models: { ...strings('Models the clients may use; absent allows every model.', modelId), maxItems: 256 },
      limits: obj('Per client, per minute; counted per replica, or across replicas with --redis-url.', {
        requestsPerMinute: int('Requests per minute.', { minimum: 1, maximum: 1000000000 }),
        tokensPerMinute: int('Prompt plus completion tokens per minute; max_tokens is reserved up front.', { minimum: 1, maximum: 2000000000 }),
      }),
    }, ['apiKeys']),
    status: obj('Observed state.', {
      observedGeneration: { type: 'integer', format: 'int64', description: 'Generation last reconciled.' },
      conditions: {
        type: 'array', description: 'Ready: the router\'s read access to the key Secret is in place.', items: condition,
        'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
      },
    }),
  }, ['spec']);
}

/** The ModelAccess CustomResourceDefinition. */
export function modelAccessCrd(): KubeObject {
  const info = MODEL_ACCESS_INFO;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'agentway', 'app.kubernetes.io/part-of': 'agentway' } },
    spec: {
      group: GROUP,
      names: { kind: info.kind, listKind: `${info.kind}List`, plural: info.plural, singular: info.singular, shortNames: [...info.shortNames], categories: ['agentway'] },
      scope: 'Namespaced',
      versions: [{
        name: VERSION, served: true, storage: true,
        schema: { openAPIV3Schema: modelAccessSchema() },
        subresources: { status: {} },
        additionalPrinterColumns: [
          ready,
          { name: 'Class', type: 'string', jsonPath: '.spec.dataClass' },
          { name: 'Keys', type: 'string', jsonPath: '.spec.apiKeys.secretRef.name' },
          { name: 'RPM', type: 'integer', jsonPath: '.spec.limits.requestsPerMinute' },
          { name: 'TPM', type: 'integer', jsonPath: '.spec.limits.tokensPerMinute' },
          { name: 'Models', type: 'string', priority: 1, jsonPath: '.spec.models' },
          { name: 'Reason', type: 'string', priority: 1, jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
          age,
        ],
      }],
    },
  };
}

/** All our CRDs, in a fixed order. */
export function crdObjects(): KubeObject[] {
  return [...ALL_KINDS.map(crdObject), modelRouteCrd(), modelAccessCrd()];
}
