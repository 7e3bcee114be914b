/**
 * Read access for the route server to one ClientPool's API-key Secret, and to nothing else: a Role in the
 * pool's namespace whose `resourceNames` name that Secret (RBAC narrows get, and list and watch by a
 * `metadata.name` field selector, which is how the route server reads it), bound to the route server's
 * ServiceAccount. Rendered with the pool, so the grant appears and goes with it.
 */
import { Construct } from 'constructs';
import { k8s } from '../imports/k8s.js';

export interface ApiKeyAccessProps {
  /** Name of the Role and the RoleBinding. */
  readonly name: string;
  /** Namespace of the pool and its Secret. */
  readonly namespace: string;
  /** The Secret holding the pool's API keys. */
  readonly secretName: string;
  /** The route server's ServiceAccount. */
  readonly serviceAccount: { readonly name: string; readonly namespace: string };
  readonly labels: Readonly<Record<string, string>>;
}

/** Name of the Role and RoleBinding that let the route server read a pool's keys. */
export function apiKeyAccessName(poolObjectName: string): string {
  return `${poolObjectName}-api-keys`;
}

export class ApiKeyAccess extends Construct {
  public constructor(scope: Construct, id: string, props: ApiKeyAccessProps) {
    super(scope, id);
    const metadata = { name: props.name, namespace: props.namespace, labels: { ...props.labels } };
    new k8s.KubeRole(this, 'role', {
      metadata,
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [props.secretName], verbs: ['get', 'list', 'watch'] }],
    });
    new k8s.KubeRoleBinding(this, 'binding', {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: props.name },
      subjects: [{ kind: 'ServiceAccount', name: props.serviceAccount.name, namespace: props.serviceAccount.namespace }],
    });
  }
}
