/**
 * The model router's part of `agentway install` (DESIGN §8): its ServiceAccount and least-privilege RBAC,
 * a Deployment of at least two replicas, its Services, and the HTTPRoute that sends the router prefix of
 * the Gateway to it.
 */
import { Construct } from 'constructs';
import { type K8s, k8s } from '../imports/k8s.js';
import { GROUP } from './api.js';
import { GatewayConfig, RouterConfig } from './config.js';
import { PORTS, ROUTER_NAME } from './defaults.js';
import { ServerDeployment, labelsOf, selectorOf } from './server-deployment.js';
import { Route } from './route.js';

/** The Secret (key `token`) of the admin API's bearer token; created by the operator, never rendered. */
export const ROUTER_ADMIN_SECRET = 'agentway-router-admin';
const READ = ['get', 'list', 'watch'];

/**
 * What the router reads — ModelAPIs, ModelRoutes and ModelAccesses (their key Secrets and providers'
 * credentials through Roles rendered with them), the pods behind rendered pools, Services and their
 * EndpointSlices — and its only writes: ModelRoutes (admin API) and the discovery annotation of ModelAPIs
 * (`patch`; RBAC cannot narrow it to the annotation).
 */
export const ROUTER_RULES: K8s.PolicyRule[] = [
  { apiGroups: [GROUP], resources: ['modelapis'], verbs: [...READ, 'patch'] },
  { apiGroups: [GROUP], resources: ['modelroutes'], verbs: [...READ, 'create', 'patch', 'delete'] },
  { apiGroups: [GROUP], resources: ['modelaccesses'], verbs: READ },
  { apiGroups: [''], resources: ['pods', 'services'], verbs: READ },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
];

/** The admin token, in the router's namespace only: one Secret, by name. */
export const ROUTER_SECRET_RULES: K8s.PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets'], resourceNames: [ROUTER_ADMIN_SECRET], verbs: ['get'] },
];

export interface RouterInstallProps {
  readonly namespace: string;
  readonly image: string;
  /** @default 2 */
  readonly replicas?: number;
  readonly gateway: Pick<GatewayConfig, 'name' | 'namespace'>;
  readonly router: RouterConfig;
}

export class RouterInstall extends Construct {
  public constructor(scope: Construct, id: string, props: RouterInstallProps) {
    super(scope, id);
    const { namespace } = props;
    const labels = labelsOf('router');
    const meta = (name: string) => ({ name, namespace, labels: { ...labels } });
    new k8s.KubeServiceAccount(this, 'sa', { metadata: meta(ROUTER_NAME), automountServiceAccountToken: true });
    new k8s.KubeClusterRole(this, 'role', { metadata: { name: ROUTER_NAME, labels: { ...labels } }, rules: ROUTER_RULES });
    new k8s.KubeClusterRoleBinding(this, 'binding', {
      metadata: { name: ROUTER_NAME, labels: { ...labels } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROUTER_NAME },
      subjects: [{ kind: 'ServiceAccount', name: ROUTER_NAME, namespace }],
    });
    new k8s.KubeRole(this, 'secret-role', { metadata: meta(`${ROUTER_NAME}-admin-token`), rules: ROUTER_SECRET_RULES });
    new k8s.KubeRoleBinding(this, 'secret-binding', {
      metadata: meta(`${ROUTER_NAME}-admin-token`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${ROUTER_NAME}-admin-token` },
      subjects: [{ kind: 'ServiceAccount', name: ROUTER_NAME, namespace }],
    });
    const probe = (path: string): K8s.Probe => ({
      httpGet: { path, port: k8s.IntOrString.fromString('metrics'), scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1,
    });
    new ServerDeployment(this, 'deployment', {
      namespace, name: ROUTER_NAME, component: 'router', image: props.image,
      // Stateless: every replica answers alike, and two keep the API up through a rollout or a lost node.
      replicas: Math.max(2, props.replicas ?? 2),
      args: ['router', `--port=${props.router.port}`, `--metrics-port=${PORTS.routerMetrics}`, `--admin-port=${PORTS.routerAdmin}`,
        `--admin-token-secret=${namespace}/${ROUTER_ADMIN_SECRET}`],
      ports: [
        { name: 'http', containerPort: props.router.port, protocol: 'TCP' },
        { name: 'admin', containerPort: PORTS.routerAdmin, protocol: 'TCP' },
        { name: 'metrics', containerPort: PORTS.routerMetrics, protocol: 'TCP' },
      ],
      liveness: probe('/healthz'), readiness: probe('/readyz'),
    });
    new k8s.KubeService(this, 'service', {
      metadata: meta(props.router.name),
      spec: {
        type: 'ClusterIP', selector: selectorOf('router'),
        ports: [{ name: 'http', port: props.router.port, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });
    // In-cluster only: no route of the Gateway leads to the admin API.
    new k8s.KubeService(this, 'admin', {
      metadata: meta(`${ROUTER_NAME}-admin`),
      spec: {
        type: 'ClusterIP', selector: selectorOf('router'),
        ports: [{ name: 'admin', port: PORTS.routerAdmin, targetPort: k8s.IntOrString.fromString('admin'), protocol: 'TCP' }],
      },
    });
    new k8s.KubeService(this, 'metrics', {
      metadata: meta(`${ROUTER_NAME}-metrics`),
      spec: {
        type: 'ClusterIP', selector: selectorOf('router'),
        ports: [{ name: 'metrics', port: PORTS.routerMetrics, targetPort: k8s.IntOrString.fromString('metrics'), protocol: 'TCP' }],
      },
    });
    // The router's per-backend timeouts apply; the route sets none of its own. ModelAPIs' header-match rules
    // at the same prefix are more specific, so requests carrying the headers skip the router.
    new Route(this, 'route', {
      namespace, name: ROUTER_NAME, labels, gateway: props.gateway, pathPrefix: props.router.prefix, rewrite: false,
      backends: [{ service: props.router.name, port: props.router.port, weight: 1 }],
    });
  }
}
