/**
 * Server-side apply of desired objects and pruning of the ones no longer desired. An object whose live
 * copy already holds every desired field is not sent at all: an unchanged CR causes no write.
 */
import { KubeObject } from '../../manifests/api.js';
import { Informer, KubeObj } from '../kube/informer.js';
import { ApiError, KubeClient } from '../kube/kube-client.js';
import { deleteIfUnchanged } from '../kube/delete.js';
import { objectKey, resourcePath, resourceType } from '../kube/resources.js';

export const FIELD_MANAGER = 'agentway';
/** Carries the UID of the CR an object was rendered for: what prune selects by. */
export const PART_OF_LABEL = 'agentway.dev/part-of';

export interface Owner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string };
}

/** `obj` as applied for `owner`: a controller ownerReference and the part-of label. */
export function withOwnership(obj: KubeObject, owner: Owner): KubeObject {
  // An ownerReference cannot cross namespaces; such an object (a shared ReferenceGrant) is left unowned.
  if (obj.metadata.namespace !== owner.metadata.namespace || !owner.metadata.uid) return obj;
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      labels: { ...(obj.metadata.labels ?? {}), [PART_OF_LABEL]: owner.metadata.uid },
      ownerReferences: [{
        apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid,
        controller: true, blockOwnerDeletion: true,
      }],
    },
  };
}

/**
 * Whether every field of `desired` has the same value in `live`. Objects may hold more fields (server
 * defaults, other managers' fields); lists must have the same length, compared element by element.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => v === undefined || isSubset(v, (live as Record<string, unknown>)[k]));
  }
  return false;
}

export interface ApplyFailure {
  readonly object: string;
  readonly error: ApiError;
}

export interface ApplyResult {
  /** Objects sent to the API server (the rest were already as desired). */
  readonly written: number;
  /** `Kind/namespace/name` of every desired object, applied or already in place. */
  readonly desiredKeys: ReadonlySet<string>;
  readonly failed: readonly ApplyFailure[];
}

export function typedKey(o: { kind?: string; metadata: { namespace?: string; name: string } }): string {
  return `${o.kind}/${objectKey(o.metadata.namespace, o.metadata.name)}`;
}

export function describe(o: { kind?: string; metadata: { name: string } }): string {
  return `${o.kind} ${o.metadata.name}`;
}

/** Server-side applies one object under our field manager, taking over fields another manager set. */
export function applyObject(client: KubeClient, obj: KubeObject): Promise<unknown> {
  return client.request('PATCH', resourcePath(resourceType(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name), {
    body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGER, force: true },
  });
}

/** Server-side applies `objects` in order, skipping those whose cached copy already matches. */
export async function applyObjects(
  client: KubeClient, objects: readonly KubeObject[], caches: ReadonlyMap<string, Informer>,
): Promise<ApplyResult> {
  let written = 0;
  const failed: ApplyFailure[] = [];
  const desiredKeys = new Set<string>();
  for (const obj of objects) {
    desiredKeys.add(typedKey(obj));
    const live = caches.get(obj.kind)?.get(objectKey(obj.metadata.namespace, obj.metadata.name));
    if (live && isSubset(obj, live)) continue;
    try {
      written++;
      await applyObject(client, obj);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      failed.push({ object: describe(obj), error: err });
    }
  }
  return { written, desiredKeys, failed };
}

/** Deletes the cached objects labelled as part of `ownerUid` that are not desired any more. */
export async function pruneOrphans(
  client: KubeClient, ownerUid: string, desiredKeys: ReadonlySet<string>, caches: Iterable<Informer>,
): Promise<number> {
  let deleted = 0;
  for (const informer of caches) {
    for (const obj of informer.byLabel(ownerUid) as KubeObj[]) {
      if (desiredKeys.has(typedKey(obj))) continue;
      deleted++;
      // Gone already, or recreated under a new UID: either way nothing of ours is left to delete.
      await deleteIfUnchanged(client, informer.type, obj);
    }
  }
  return deleted;
}
