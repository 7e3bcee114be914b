/** Deletes that never remove an object someone recreated meanwhile under the same name. */
import { KubeObject } from '../../manifests/api.js';
import { ApiError, KubeClient } from './kube-client.js';
import { ResourceType, resourcePath } from './resources.js';

/**
 * Deletes `obj` only if it still has its UID, so an object recreated meanwhile under the same name
 * survives; false when it was gone already or recreated (404, 409).
 */
export async function deleteIfUnchanged(client: KubeClient, type: ResourceType, obj: KubeObject): Promise<boolean> {
  try {
    await client.request('DELETE', resourcePath(type, obj.metadata.namespace, obj.metadata.name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: obj.metadata.uid }, propagationPolicy: 'Background' },
    });
    return true;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 409)) return false;
    throw err;
  }
}
