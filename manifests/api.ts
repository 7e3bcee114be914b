/**
 * The agentway.dev/v1alpha1 API as TypeScript types: what a CR looks like once the API server (or the
 * synth path, through the same schema) has applied its defaults.
 */

export const GROUP = 'agentway.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export type Kind = 'Agent' | 'ModelAPI' | 'MCPServer' | 'ClientPool' | 'ClientInstance';

/** Per-kind facts that every layer agrees on. */
export interface KindInfo {
  readonly kind: Kind;
  readonly plural: string;
  readonly singular: string;
  /** Path segment in `/{namespace}/{segment}/{name}` and prefix of every derived object name. */
  readonly segment: string;
  /** The `RenderConfig.defaultTimeouts` key that applies to this kind. */
  readonly timeoutKey: TimeoutKey;
  readonly shortNames: readonly string[];
}

export type TimeoutKey = 'agent' | 'modelapi' | 'mcp' | 'client';

export const KINDS: Readonly<Record<Kind, KindInfo>> = {
  Agent: { kind: 'Agent', plural: 'agents', singular: 'agent', segment: 'agent', timeoutKey: 'agent', shortNames: ['agt'] },
  ModelAPI: { kind: 'ModelAPI', plural: 'modelapis', singular: 'modelapi', segment: 'modelapi', timeoutKey: 'modelapi', shortNames: ['mapi'] },
  MCPServer: { kind: 'MCPServer', plural: 'mcpservers', singular: 'mcpserver', segment: 'mcp', timeoutKey: 'mcp', shortNames: ['mcp'] },
  ClientPool: { kind: 'ClientPool', plural: 'clientpools', singular: 'clientpool', segment: 'client', timeoutKey: 'client', shortNames: ['cpool'] },
  ClientInstance: { kind: 'ClientInstance', plural: 'clientinstances', singular: 'clientinstance', segment: 'client', timeoutKey: 'client', shortNames: ['cinst'] },
};

export const ALL_KINDS: readonly Kind[] = ['Agent', 'ModelAPI', 'MCPServer', 'ClientPool', 'ClientInstance'];

export function isKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && (ALL_KINDS as readonly string[]).includes(kind);
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  /** A mutable list, as cdk8s's ApiObjectMetadata has it, so that a KubeObject is an ApiObject's props as it is. */
  readonly ownerReferences?: OwnerReference[];
  /** Writable: an informer drops them from what it caches. */
  managedFields?: unknown[];
  readonly [key: string]: unknown;
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef: { readonly name: string; readonly key: string } };
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

export interface Resources {
  readonly cpu?: string | number;
  readonly memory?: string | number;
  /** Accelerators per replica. */
  readonly gpu?: number;
  /** Extended resource name of the accelerator. */
  readonly gpuResource: string;
}

export interface Pool {
  readonly name: string;
  readonly replicas: number;
  readonly resources?: Resources;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
}

export type CapacitySource = 'replicas' | 'endpoint';
export type CapacityMetric = 'gpus' | 'cpus' | 'memory' | 'idleWorkers';

export interface Capacity {
  readonly source: CapacitySource;
  readonly path: string;
  readonly metric: CapacityMetric;
  readonly intervalSeconds: number;
}

export interface GatewayRoute {
  readonly enabled: boolean;
  readonly timeout?: string;
  readonly hostnames?: readonly string[];
}

/** Fields shared by Agent, ModelAPI, MCPServer and ClientPool's `spec.template`. */
export interface WorkloadSpec {
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly port: number;
  readonly replicas: number;
  readonly resources?: Resources;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly Toleration[];
  readonly health?: { readonly path: string };
  readonly pools?: readonly Pool[];
  readonly capacity: Capacity;
  readonly gatewayRoute: GatewayRoute;
}

export interface AgentSpec extends WorkloadSpec {
  /** Name of a ModelAPI in the same namespace. */
  readonly modelAPI?: string;
  /** Names of MCPServers in the same namespace. */
  readonly mcpServers?: readonly string[];
}

/** A label selector as Kubernetes writes them. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; readonly values?: readonly string[] }[];
}

/** Model servers agentway does not run: the ready endpoints of the Services that match `selector`. */
export interface ModelBackend {
  readonly selector: LabelSelector;
  /** Service port; mapped to each EndpointSlice's port by the port's name. */
  readonly port: number;
}

export interface ModelAPISpec extends Omit<WorkloadSpec, 'image'> {
  /** Required unless `backend` is set. */
  readonly image?: string;
  /** Model ids served, as clients name them in `model`. */
  readonly models?: readonly string[];
  /** The serving engine (vllm, sglang, ollama, …), compared case-insensitively. */
  readonly ownedBy?: string;
  /** Serve through model servers agentway does not run; no Deployment or Service is rendered. */
  readonly backend?: ModelBackend;
  /** An external provider reached by the model router; no workload is rendered. */
  readonly provider?: ModelProvider;
  /** Highest data class the ModelAPI may receive. Default: restricted in the cluster, public for a provider. */
  readonly dataClass?: DataClass;
  /** USD per million tokens, for cost metrics and the `cheapest` strategy. */
  readonly pricing?: Pricing;
}

export type ProviderType = 'openai' | 'anthropic' | 'bedrock' | 'ollama' | 'openai-compatible';
export const PROVIDER_TYPES: readonly ProviderType[] = ['openai', 'anthropic', 'bedrock', 'ollama', 'openai-compatible'];

/** An external provider (DESIGN §9). */
export interface ModelProvider {
  readonly type: ProviderType;
  /** Base URL as the provider's own SDK takes it. */
  readonly url: string;
  /** AWS region (Bedrock). */
  readonly region?: string;
  /** The provider's model id, sent in place of the one asked for. */
  readonly model?: string;
  /** Secret key holding the credential; none for Ollama. */
  readonly credentialsSecretRef?: { readonly name: string; readonly key: string };
}

export type DataClass = 'public' | 'internal' | 'confidential' | 'restricted';
export const DATA_CLASSES: readonly DataClass[] = ['public', 'internal', 'confidential', 'restricted'];

export interface Pricing {
  readonly inputPer1M?: number;
  readonly outputPer1M?: number;
  readonly cachedInputPer1M?: number;
}

/** Clients of the model router: their keys, data class, allowed models and limits (DESIGN §9). Renders nothing. */
export interface ModelAccessSpec {
  /** Secret whose data maps clientId to apiKey. */
  readonly apiKeys: { readonly secretRef: { readonly name: string } };
  readonly dataClass: DataClass;
  /** Models the clients may use; absent = every model. */
  readonly models?: readonly string[];
  readonly limits?: { readonly requestsPerMinute?: number; readonly tokensPerMinute?: number };
}

export interface ModelAccess {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'ModelAccess';
  readonly metadata: ObjectMeta;
  readonly spec: ModelAccessSpec;
  /** Ready: whether the router's read access to the key Secret is in place. */
  readonly status?: Pick<ResourceStatus, 'observedGeneration' | 'conditions'>;
}

export const MODEL_ACCESS_INFO = { kind: 'ModelAccess', plural: 'modelaccesses', singular: 'modelaccess', shortNames: ['maccess'] } as const;

/** A model a ModelAPI's servers reported on `GET /v1/models`. */
export interface DiscoveredModel {
  readonly id: string;
  readonly ownedBy?: string;
}

export type ModelRouteStrategy = 'capacity' | 'weighted' | 'priority' | 'cheapest';

export interface ModelRouteTarget {
  /** A ModelAPI in the ModelRoute's namespace. */
  readonly modelAPI?: string;
  /** A Service in the ModelRoute's namespace, reached through its EndpointSlices. */
  readonly service?: { readonly name: string; readonly port: number };
  /** Model id sent upstream in place of the one asked for. */
  readonly model?: string;
  readonly weight?: number;
  readonly priority?: number;
}

export interface ModelRouteSpec {
  readonly model: string;
  readonly ownedBy?: string;
  readonly strategy: ModelRouteStrategy;
  readonly targets: readonly ModelRouteTarget[];
}

/** Where requests for a model (and engine) go, overriding what ModelAPIs declare. Renders nothing. */
export interface ModelRoute {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'ModelRoute';
  readonly metadata: ObjectMeta;
  readonly spec: ModelRouteSpec;
}

/**
 * Set (to an RFC 3339 time) on a ModelAPI to have the controller ask its servers for `GET /v1/models` now,
 * rather than at the next 30 s round; the model router's `POST /admin/discover` sets it.
 */
export const DISCOVER_AT_ANNOTATION = 'agentway.dev/discover-at';

export const MODEL_ROUTE_INFO = { kind: 'ModelRoute', plural: 'modelroutes', singular: 'modelroute', shortNames: ['mroute'] } as const;

export type MCPServerSpec = WorkloadSpec;

export interface ClientPoolSpec {
  readonly template: Omit<WorkloadSpec, 'gatewayRoute' | 'pools' | 'capacity' | 'replicas'> & Partial<Pick<WorkloadSpec, 'capacity'>>;
  readonly apiKeys: { readonly secretRef: { readonly name: string } };
  readonly idleTimeout: string;
  readonly maxInstancesPerClient: number;
  readonly maxInstances: number;
  readonly gatewayRoute: GatewayRoute;
}

export interface ClientInstanceSpec {
  readonly pool: string;
  readonly client: string;
  readonly instance: string;
}

export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime?: string;
}

export interface PoolStatus {
  readonly name: string;
  readonly ready: number;
  readonly capacity: number;
  readonly weight: number;
}

export interface ResourceStatus {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
  readonly endpoint?: string;
  readonly pools?: readonly PoolStatus[];
  readonly lastActivityTime?: string;
  /** ModelAPI: models its servers reported on `GET /v1/models`. */
  readonly discoveredModels?: readonly DiscoveredModel[];
}

interface Resource<K extends Kind, S> {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: K;
  readonly metadata: ObjectMeta;
  readonly spec: S;
  readonly status?: ResourceStatus;
}

export type Agent = Resource<'Agent', AgentSpec>;
export type ModelAPI = Resource<'ModelAPI', ModelAPISpec>;
export type MCPServer = Resource<'MCPServer', MCPServerSpec>;
export type ClientPool = Resource<'ClientPool', ClientPoolSpec>;
export type ClientInstance = Resource<'ClientInstance', ClientInstanceSpec>;

export type AgentwayResource = Agent | ModelAPI | MCPServer | ClientPool | ClientInstance;
export type WorkloadResource = Agent | ModelAPI | MCPServer;

/**
 * A Kubernetes object as plain JSON, of any kind: what render returns, apply sends and an informer caches.
 * The fields beyond these three are the kind's own (`spec`, `status`, `data`, …); code that knows the kind
 * reads them, or narrows the object to one of the types above.
 */
export interface KubeObject {
  // Not readonly: an informer fills in apiVersion and kind, which list responses leave out of their items.
  apiVersion: string;
  kind: string;
  readonly metadata: ObjectMeta;
  readonly [key: string]: any;
}

/** A problem in a CR, named by the field that has it. */
export interface FieldError {
  /** Field path such as `spec.pools[2].name`. */
  readonly path: string;
  readonly message: string;
}
