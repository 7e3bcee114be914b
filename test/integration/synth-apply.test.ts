/**
 * What `agentway synth` renders for examples/ is accepted by a real API server under server-side apply
 * (field manager `agentway`), and applying it again changes nothing.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { FIELD_MANAGER } from '../../controller/reconciler/child-cache.js';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, resourceType } from '../../controller/kube/resources.js';
import { KubeObject } from '../../manifests/api.js';
import { renderConfig } from '../../manifests/config.js';
import { synthesize } from '../../manifests/synth.js';
import { testClient } from '../env/controller.js';
import { deleteNamespace, eventually, newNamespace } from '../env/kube.js';

let kube: KubeClient;
let ns: string;
let systemNs: string;

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('synth-apply');
  systemNs = await newNamespace('synth-apply-system');
});
afterAll(async () => {
  await Promise.all([deleteNamespace(ns), deleteNamespace(systemNs)]);
  kube.close();
});

/** The examples, moved into the test namespace; the Gateway and route server live in another one. */
function renderedExamples(): KubeObject[] {
  const dir = path.resolve('examples');
  const docs = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d, i) => {
      const doc = d.toJS();
      if (doc?.metadata?.namespace) doc.metadata.namespace = ns;
      return { source: `${f}#${i}`, doc };
    }));
  const config = renderConfig({ gateway: { namespace: systemNs }, routeServer: { namespace: systemNs } });
  const { files, errors } = synthesize(docs, config);
  expect(errors).toEqual([]);
  return [...files.values()].flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as KubeObject));
}

async function apply(obj: KubeObject): Promise<any> {
  return kube.request('PATCH', resourcePath(resourceType(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name), {
    body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER, force: true },
  });
}

const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;

async function resourceVersions(objects: readonly KubeObject[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of objects) {
    const live = await kube.request('GET', resourcePath(resourceType(o.apiVersion, o.kind), o.metadata.namespace, o.metadata.name));
    out[key(o)] = live.metadata.resourceVersion;
  }
  return out;
}

test('every object synthesized for examples/ is accepted by server-side apply, and an identical apply writes nothing', async () => {
  const objects = renderedExamples();
  // Deployments, Services, HTTPRoutes, the Gateway, the route server's ReferenceGrant and its key access, ModelRoutes as written.
  expect(new Set(objects.map((o) => o.kind))).toEqual(new Set(['Deployment', 'Service', 'HTTPRoute', 'Gateway', 'ReferenceGrant', 'Role', 'RoleBinding', 'ModelRoute']));
  for (const o of objects) {
    const live = await apply(o);
    expect(live.metadata.managedFields.map((m: { manager: string }) => m.manager)).toEqual([FIELD_MANAGER]);
  }
  // The API server persists defaults of a just-created object (the Gateway's default status) on its next
  // write, and the Deployment controller writes Deployment status: wait until nothing moves any more.
  for (const o of objects) await apply(o);
  await eventually(async () => {
    const a = await resourceVersions(objects);
    await new Promise((r) => setTimeout(r, 500));
    expect(await resourceVersions(objects)).toEqual(a);
  }, { timeoutMs: 30_000 });

  const before = await resourceVersions(objects);
  const after: Record<string, string> = {};
  for (const o of objects) after[key(o)] = (await apply(o)).metadata.resourceVersion;
  expect(after).toEqual(before);
}, 60_000);
