/**
 * The REST client against the real API server: a UID-guarded delete is refused for a stale UID,; the body of
 * a DELETE is framed, so the request after it on the same socket is answered as itself.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, resourceType } from '../../controller/kube/resources.js';
import { testClient } from '../env/controller.js';
import { deleteNamespace, newNamespace } from '../env/kube.js';

let ns: string;
let kube: KubeClient;
const configMaps = resourceType('v1', 'ConfigMap');

beforeAll(async () => {
  ns = await newNamespace('kube-client');
  kube = testClient();
});
afterAll(async () => {
  await deleteNamespace(ns);
  kube.close();
});

const createConfigMap = (name: string) => kube.request('POST', resourcePath(configMaps, ns), {
  body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { a: '1' } },
});
const deleteWithUid = (name: string, uid: string) => kube.request('DELETE', resourcePath(configMaps, ns, name), {
  body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid }, propagationPolicy: 'Background' },
});

test('a delete with a stale UID is refused with 409 and leaves the object; the next request is unaffected', async () => {
  const cm = await createConfigMap('guarded');
  const err = await deleteWithUid('guarded', '00000000-0000-0000-0000-000000000000').then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).status).toBe(409);
  // On the same keep-alive socket: an unframed body would have been read as a request of its own here.
  const live = await kube.request('GET', resourcePath(configMaps, ns, 'guarded'));
  expect(live.metadata.uid).toBe(cm.metadata.uid);

  await deleteWithUid('guarded', cm.metadata.uid);
  const gone = await kube.request('GET', resourcePath(configMaps, ns, 'guarded')).then(() => 200, (e: ApiError) => e.status);
  expect(gone).toBe(404);
});
