/** Keys of the controller's work queue: `Kind/namespace/name`. */
import { Kind } from '../../manifests/api.js';
import { objectKey } from '../kube/resources.js';

/** `Kind/namespace/name`, the work queue's key. */
export function queueKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${objectKey(namespace, name)}`;
}

export function parseQueueKey(key: string): { kind: Kind; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind: kind as Kind, namespace, name };
}
