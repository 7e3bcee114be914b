/**
 * The objects every CR shares (the Gateway, the Traefik routes): applied through the work queue like a CR,
 * so that a failure backs off and retries instead of waiting for the next resync, and is counted and
 * reported as an Event on the object.
 */
import { KubeObject } from '../../manifests/api.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { EventRecorder } from '../kube/events.js';
import { resourcePath, resourceType } from '../kube/resources.js';
import { applyObject, describe, isSubset } from './apply.js';
import { failureOf } from './failure.js';
import type { Outcome } from './reconcile.js';

/** Queue key of the shared objects. */
export const SHARED_KEY = 'Shared';

export const SharedReasons = { SharedApplyFailed: 'SharedApplyFailed' } as const;

/** Applies each shared object unless the live one already holds it; the first failure ends the round. */
export async function reconcileShared(
  client: KubeClient, objects: readonly KubeObject[], events: EventRecorder, onFailure: (obj: KubeObject) => void,
): Promise<Outcome> {
  let writes = 0;
  for (const obj of objects) {
    try {
      const path = resourcePath(resourceType(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name);
      const live = await client.request('GET', path).catch((err) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      });
      if (live && isSubset(obj, live)) continue;
      await applyObject(client, obj);
      writes++;
    } catch (err) {
      const failure = failureOf(SharedReasons.SharedApplyFailed, `${describe(obj)} in ${obj.metadata.namespace}`, err);
      onFailure(obj);
      await events.warn({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } }, failure.reason, failure.message);
      // Every failure here is retried: nothing else would bring the Gateway back before the next resync.
      return { writes, retry: { detail: failure.detail, maxDelayMs: failure.retry.kind === 'backoff' ? failure.retry.maxDelayMs : 60_000 } };
    }
  }
  return { writes };
}
