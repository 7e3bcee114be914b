/** The API resources agentway reads and writes, and their REST paths. */
import { API_VERSION, KINDS, Kind, MODEL_ACCESS_INFO, MODEL_ROUTE_INFO } from '../../manifests/api.js';

export interface ResourceType {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

const BUILTIN: readonly ResourceType[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', plural: 'httproutes', namespaced: true },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', plural: 'gateways', namespaced: true },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', plural: 'gatewayclasses', namespaced: false },
  { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', plural: 'referencegrants', namespaced: true },
];

/** ModelRoutes render nothing: the model router reads them as they are. */
export const MODEL_ROUTE_TYPE: ResourceType = { apiVersion: API_VERSION, kind: MODEL_ROUTE_INFO.kind, plural: MODEL_ROUTE_INFO.plural, namespaced: true };

/** ModelAccesses render nothing in the cluster: the model router reads them as they are. */
export const MODEL_ACCESS_TYPE: ResourceType = { apiVersion: API_VERSION, kind: MODEL_ACCESS_INFO.kind, plural: MODEL_ACCESS_INFO.plural, namespaced: true };

const OURS: readonly ResourceType[] = [...(Object.keys(KINDS) as Kind[]).map((kind) => ({
  apiVersion: API_VERSION, kind, plural: KINDS[kind].plural, namespaced: true,
})), MODEL_ROUTE_TYPE, MODEL_ACCESS_TYPE];

const BY_KIND = new Map([...BUILTIN, ...OURS].map((t) => [`${t.apiVersion}/${t.kind}`, t]));

export function resourceType(apiVersion: string, kind: string): ResourceType {
  const t = BY_KIND.get(`${apiVersion}/${kind}`);
  if (!t) throw new Error(`unknown resource type ${apiVersion} ${kind}`);
  return t;
}

const BY_KIND_ONLY = new Map([...BUILTIN, ...OURS].map((t) => [t.kind, t]));

/** The resource type of a kind, for kinds known here by one API version only. */
export function typeOfKind(kind: string): ResourceType {
  const t = BY_KIND_ONLY.get(kind);
  if (!t) throw new Error(`unknown kind ${kind}`);
  return t;
}

export function ourType(kind: Kind): ResourceType {
  return resourceType(API_VERSION, kind);
}

/** `/api/v1/namespaces/ns/services/name` and friends; without a namespace, the cluster-wide collection. */
export function resourcePath(t: ResourceType, namespace?: string, name?: string): string {
  const base = t.apiVersion.includes('/') ? `/apis/${t.apiVersion}` : `/api/${t.apiVersion}`;
  const ns = t.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${t.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key of caches and the work queue. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}
