/**
 * The ServiceAccounts and RBAC that `agentway install` renders, applied for one test namespace, and
 * clients that act as those ServiceAccounts: what proves that each process works with its own rules.
 */
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, resourceType } from '../../controller/kube/resources.js';
import { renderInstall } from '../../manifests/install.js';
import { kubeConfig } from './kube.js';

const SKIPPED = new Set(['Namespace', 'CustomResourceDefinition', 'Deployment', 'Service']);

/**
 * Applies the install rendered for `namespace` (cluster-scoped names suffixed with it), or the part of it that
 * `keep` selects, and returns the paths of the cluster-scoped objects, for the caller to delete.
 */
export async function applyInstallRbac(
  kube: KubeClient, namespace: string, keep: (o: { kind: string; metadata: { name: string } }) => boolean = () => true,
): Promise<string[]> {
  const clusterObjects: string[] = [];
  const clusterName = (name: string) => `${name}-${namespace}`;
  for (const rendered of renderInstall({ namespace })) {
    if (SKIPPED.has(rendered.kind) || !keep(rendered)) continue;
    const obj: Record<string, any> = structuredClone(rendered);
    if (obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding') obj.metadata.name = clusterName(obj.metadata.name);
    if (obj.kind === 'ClusterRoleBinding') obj.roleRef.name = clusterName(obj.roleRef.name);
    const p = resourcePath(resourceType(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name);
    if (!obj.metadata.namespace) clusterObjects.push(p);
    await kube.request('PATCH', p, {
      body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager: 'agentway-install-test', force: true },
    });
  }
  return clusterObjects;
}

/** A one-hour token of a ServiceAccount. */
export async function serviceAccountToken(kube: KubeClient, namespace: string, name: string): Promise<string> {
  const tr = await kube.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  return tr.status.token;
}

/** A KubeConfig for the test control plane that authenticates with `token`. */
export function kubeConfigWithToken(token: string, user = 'service-account'): KubeConfig {
  const cluster = kubeConfig().getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: 'test', cluster: 'test', user }],
    currentContext: 'test',
  });
  return kc;
}

/** Writes a kubeconfig file that authenticates with `token`, for a child process. */
export function writeKubeconfigWithToken(path: string, token: string): void {
  const cluster = kubeConfig().getCurrentCluster()!;
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: 'service-account', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'service-account' } }],
    'current-context': 'test',
  }), { mode: 0o600 });
}
