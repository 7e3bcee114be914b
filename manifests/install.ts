/**
 * The controller's own install manifests (`agentway install`): Namespace, CRDs, ServiceAccount,
 * least-privilege RBAC, the controller Deployment and its metrics Service. Rendered with the same cdk8s
 * constructs as everything else; deterministic, for kubectl or Argo CD.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { type K8s, k8s } from '../imports/k8s.js';
import { ALL_KINDS, GROUP, KINDS, KubeObject } from './api.js';
import { crdObjects } from './crds.js';
import { RenderConfig, renderConfig } from './config.js';
import { CONTROLLER_NAME, DEFAULT_IMAGE, DEFAULT_NAMESPACE, PORTS, ROUTE_SERVER_NAME } from './defaults.js';
import { RouterInstall } from './router-install.js';
import { ServerDeployment, labelsOf, selectorOf } from './server-deployment.js';

export interface InstallProps {
  /** Namespace of the controller. @default DEFAULT_NAMESPACE */
  readonly namespace?: string;
  /** Image of the controller, route server and router. @default DEFAULT_IMAGE, what `npm run image` builds */
  readonly image?: string;
  /** Controller replicas; one leads at a time. @default 2 */
  readonly replicas?: number;
  /** Extra arguments of `agentway controller`, e.g. gateway flags. @default none */
  readonly controllerArgs?: readonly string[];
  /** The Gateway and prefix of the model router's HTTPRoute. @default renderConfig()'s */
  readonly routing?: Pick<RenderConfig, 'gateway' | 'router'>;
}

const labels = labelsOf('controller');
const selector = selectorOf('controller');

const plurals = ALL_KINDS.map((k) => KINDS[k].plural);
const WRITE = ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'];

/** What the controller may do, cluster-wide: read our CRs, write their status, own their children. */
export const CONTROLLER_RULES: K8s.PolicyRule[] = [
  { apiGroups: [GROUP], resources: plurals, verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: plurals.map((p) => `${p}/status`), verbs: ['get', 'patch', 'update'] },
  // blockOwnerDeletion on a child needs update on the owner's finalizers where that is enforced.
  { apiGroups: [GROUP], resources: plurals.map((p) => `${p}/finalizers`), verbs: ['update'] },
  // A ModelAccess renders the router's read access to its key Secret, owned by the ModelAccess.
  { apiGroups: [GROUP], resources: ['modelaccesses'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: ['modelaccesses/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: [GROUP], resources: ['modelaccesses/finalizers'], verbs: ['update'] },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: WRITE },
  { apiGroups: [''], resources: ['services'], verbs: WRITE },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'gateways', 'referencegrants'], verbs: WRITE },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  // Each ClientPool's Role lets the route server read that pool's key Secret. Granting read access to a
  // Secret the controller cannot read itself takes escalate (for the Role) and bind (for its binding); the
  // controller never reads a Secret.
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: WRITE },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate', 'bind'] },
];

/**
 * What the route server may do: read pools, create, touch and delete instances. It reads no Secret by
 * this role: each ClientPool renders a Role for its own key Secret (manifests/key-access.ts).
 */
export const ROUTE_SERVER_RULES: K8s.PolicyRule[] = [
  { apiGroups: [GROUP], resources: ['clientpools'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: ['clientinstances'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
  { apiGroups: [GROUP], resources: ['clientinstances/status'], verbs: ['get', 'patch'] },
  // Warnings on a pool, e.g. a client id in its Secret that cannot name an instance.
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];

/** Leader election, in the controller's namespace only. */
export const LEASE_RULES: K8s.PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'] },
];

class ControllerInstall extends Construct {
  public constructor(scope: Construct, id: string, props: Required<InstallProps>) {
    super(scope, id);
    const namespace = props.namespace;
    const meta = (name: string) => ({ name, namespace, labels: { ...labels } });
    new k8s.KubeNamespace(this, 'namespace', { metadata: { name: namespace, labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    // CRDs pass through as plain JSON: the typed L1 class would re-map the schema's x-kubernetes-* keys.
    for (const crd of crdObjects()) new ApiObject(this, `crd-${crd.spec.names.plural}`, crd);
    new k8s.KubeServiceAccount(this, 'sa', { metadata: meta(CONTROLLER_NAME), automountServiceAccountToken: true });
    new k8s.KubeClusterRole(this, 'role', { metadata: { name: CONTROLLER_NAME, labels: { ...labels } }, rules: CONTROLLER_RULES });
    new k8s.KubeClusterRoleBinding(this, 'binding', {
      metadata: { name: CONTROLLER_NAME, labels: { ...labels } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROLLER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace }],
    });
    new k8s.KubeRole(this, 'lease-role', { metadata: meta(`${CONTROLLER_NAME}-leader-election`), rules: LEASE_RULES });
    new k8s.KubeRoleBinding(this, 'lease-binding', {
      metadata: meta(`${CONTROLLER_NAME}-leader-election`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${CONTROLLER_NAME}-leader-election` },
      subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace }],
    });
    const probe = (path: string, port: string): K8s.Probe => ({
      httpGet: { path, port: k8s.IntOrString.fromString(port), scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1,
    });
    new ServerDeployment(this, 'deployment', {
      namespace, name: CONTROLLER_NAME, component: 'controller', image: props.image, replicas: props.replicas,
      args: ['controller', `--leader-election-namespace=${namespace}`, ...props.controllerArgs],
      ports: [{ name: 'metrics', containerPort: PORTS.controllerMetrics, protocol: 'TCP' }, { name: 'probes', containerPort: PORTS.controllerProbes, protocol: 'TCP' }],
      liveness: probe('/healthz', 'probes'), readiness: probe('/readyz', 'probes'), memoryProfile: 'footprint',
    });
    new k8s.KubeService(this, 'metrics', {
      metadata: meta(`${CONTROLLER_NAME}-metrics`),
      spec: {
        type: 'ClusterIP', selector: { ...selector },
        ports: [{ name: 'metrics', port: PORTS.controllerMetrics, targetPort: k8s.IntOrString.fromString('metrics'), protocol: 'TCP' }],
      },
    });

    // The route server: stateless, so every replica serves; it has its own identity and RBAC.
    const rs = { name: ROUTE_SERVER_NAME, namespace, labels: labelsOf('route-server') };
    new k8s.KubeServiceAccount(this, 'rs-sa', { metadata: rs, automountServiceAccountToken: true });
    new k8s.KubeClusterRole(this, 'rs-role', { metadata: { name: ROUTE_SERVER_NAME, labels: labelsOf('route-server') }, rules: ROUTE_SERVER_RULES });
    new k8s.KubeClusterRoleBinding(this, 'rs-binding', {
      metadata: { name: ROUTE_SERVER_NAME, labels: labelsOf('route-server') },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROUTE_SERVER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: ROUTE_SERVER_NAME, namespace }],
    });
    new ServerDeployment(this, 'rs-deployment', {
      namespace, name: ROUTE_SERVER_NAME, component: 'route-server', image: props.image, replicas: props.replicas,
      args: ['route-server'], ports: [{ name: 'http', containerPort: PORTS.routeServer, protocol: 'TCP' }],
      liveness: probe('/healthz', 'http'), readiness: probe('/healthz', 'http'),
    });
    new k8s.KubeService(this, 'rs-service', {
      metadata: rs,
      spec: {
        type: 'ClusterIP', selector: selectorOf('route-server'),
        ports: [{ name: 'http', port: PORTS.routeServer, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });
    // The model router: stateless, every replica serves; its own identity and RBAC.
    new RouterInstall(this, 'router', { namespace, image: props.image, replicas: props.replicas, ...props.routing });
  }
}

/** Every object of the install, in apply order (Namespace and CRDs first). */
export function renderInstall(props: InstallProps = {}): readonly KubeObject[] {
  const app = new App({ outdir: 'unused', recordConstructMetadata: false });
  const chart = new Chart(app, 'install');
  new ControllerInstall(chart, 'agentway', {
    namespace: props.namespace ?? DEFAULT_NAMESPACE,
    image: props.image ?? DEFAULT_IMAGE,
    replicas: props.replicas ?? 2,
    controllerArgs: props.controllerArgs ?? [],
    routing: props.routing ?? renderConfig(),
  });
  return chart.toJson() as KubeObject[];
}
