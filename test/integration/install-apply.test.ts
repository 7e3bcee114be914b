/**
 * What `agentway install` prints, server-side applied twice as a user would (`kubectl apply --server-side`): the
 * second apply writes nothing, so Argo CD and GitOps loops that re-apply it see no drift and cause no churn.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, resourceType } from '../../controller/kube/resources.js';
import { repoRoot } from '../env/control-plane.js';
import { testClient } from '../env/controller.js';
import { crdForKube120 } from '../env/install-crds.js';
import { deleteNamespace, eventually } from '../env/kube.js';
import { Obj } from '../env/objects.js';

const FIELD_MANAGER = 'kubectl';
const ns = `install-${randomBytes(3).toString('hex')}`;
let kube: KubeClient;
let objects: Obj[];

/**
 * The install for `ns`, as the CLI prints it. Adapted to this shared control plane only where it must be: the
 * cluster-scoped roles and bindings get `ns` appended (other tests install their own), and the CRDs lose what a
 * 1.20 apiserver does not know, as the test environment installs them.
 */
function installFor(namespace: string): Obj[] {
  const yaml = execFileSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'controller/cli.ts'), 'install', '--namespace', namespace],
    { cwd: repoRoot, encoding: 'utf8' });
  return parseAllDocuments(yaml).map((d) => d.toJS() as Obj).filter(Boolean).map((o) => {
    if (o.kind === 'CustomResourceDefinition') return crdForKube120(o);
    if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') o.metadata.name = `${o.metadata.name}-${namespace}`;
    if (o.roleRef?.kind === 'ClusterRole') o.roleRef.name = `${o.roleRef.name}-${namespace}`;
    return o;
  });
}

const pathOf = (o: Obj) => resourcePath(resourceType(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name);

/**
 * What shows that an object was written by us: its resourceVersion; for a Deployment, whose status the
 * kube-controller-manager keeps writing whenever it likes, its generation and the entry of our field manager.
 */
function version(o: Obj): string {
  if (o.kind !== 'Deployment') return o.metadata.resourceVersion;
  const ours = (o.metadata.managedFields ?? []).filter((f: Obj) => f.manager === FIELD_MANAGER);
  return `generation ${o.metadata.generation}, ${JSON.stringify(ours)}`;
}

/** Applies every object and returns each one's version as the apply answered it. */
async function applyAll(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const o of objects) {
    const applied = await kube.request('PATCH', pathOf(o), { body: o, contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER } });
    versions[pathOf(o)] = version(applied);
  }
  return versions;
}

async function liveVersions(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const o of objects) versions[pathOf(o)] = version(await kube.request('GET', pathOf(o)));
  return versions;
}

beforeAll(() => {
  kube = testClient();
  objects = installFor(ns);
});

afterAll(async () => {
  for (const o of objects) {
    if (!o.metadata.namespace && o.kind !== 'CustomResourceDefinition' && o.kind !== 'Namespace') {
      await kube.request('DELETE', pathOf(o)).catch(() => undefined);
    }
  }
  await deleteNamespace(ns);
});

test('the install applied a second time writes nothing', async () => {
  expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'Deployment', 'Service']));
  await applyAll();
  // The kube-controller-manager writes the Deployments' status once it has made their ReplicaSets: wait for quiet.
  const settled = await eventually(async () => {
    const before = await liveVersions();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await liveVersions()).toEqual(before);
    return before;
  }, { timeoutMs: 60_000 });
  expect(await applyAll()).toEqual(settled);
  expect(await liveVersions()).toEqual(settled);
}, 120_000);
