/**
 * Server-side apply of desired objects and pruning of the ones no longer desired. An object whose live
 * copy holds, as the fields our manager applied, exactly the desired fields as the server stores them is not
 * sent at all: an unchanged CR causes no write.
 */
import { KubeObject, OwnerReference } from '../../manifests/api.js';
import { deleteIfUnchanged } from '../kube/delete.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { objectKey, resourcePath, resourceType } from '../kube/resources.js';
import { QUANTITY_PARENTS, omittedWhenEmpty, quantityValue } from '../kube/stored-form.js';
import { FIELD_MANAGER, PART_OF_LABEL, isApplied } from './child-cache.js';
import { Failure, NO_RETRY, failureOf } from './failure.js';

export const ApplyReasons = {
  ApplyFailed: 'ApplyFailed',
  PruneFailed: 'PruneFailed',
  NameConflict: 'NameConflict',
} as const;

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
 * Whether every field of `desired` has the same value in `live`, as the server stores it: objects may hold
 * more fields (server defaults, other managers' fields); lists must have the same length, compared element
 * by element; an empty desired value matches an absent one, and quantities compare by value.
 */
export function isSubset(desired: unknown, live: unknown, parentKey = ''): boolean {
  if (desired === live) return true;
  if (live === undefined && omittedWhenEmpty(desired)) return true;
  if (QUANTITY_PARENTS.has(parentKey)) {
    const a = quantityValue(desired);
    const b = quantityValue(live);
    if (a !== undefined && b !== undefined) return Math.abs(a - b) <= Math.abs(a) * 1e-12;
  }
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([k, v]) => v === undefined || isSubset(v, (live as Record<string, unknown>)[k], QUANTITY_PARENTS.has(parentKey) ? parentKey : k));
  }
  return false;
}

export interface ApplyResult {
  /** Objects the API server accepted this round. */
  readonly written: number;
  /** `Kind/namespace/name` of every desired object, applied or already in place. */
  readonly desiredKeys: ReadonlySet<string>;
  /** `Kind name` of each desired object that is live as rendered (applied now or already in place). */
  readonly live: readonly string[];
  /** `Kind name` of each desired object not applied because an earlier one failed. */
  readonly notApplied: readonly string[];
  /** The first object that failed, if any: applying stops there. */
  readonly failure?: Failure;
  /** `Kind/namespace/name` of a live object another CR owns, when that is the failure. */
  readonly conflict?: string;
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

/** The CR other than `owner` that controls `live`, if any. */
function otherController(live: KubeObject | undefined, owner: Owner): OwnerReference | undefined {
  const ref = live?.metadata.ownerReferences?.find((r) => r.controller);
  return ref && ref.uid !== owner.metadata.uid ? ref : undefined;
}

/**
 * Server-side applies `objects` in order, skipping those whose cached copy already matches. Stops at the
 * first failure, so that a refused object leaves the ones after it untouched rather than half a CR live;
 * an object another CR controls (two CRs whose derived names collide) is never taken over.
 */
export async function applyObjects(
  client: KubeClient, owner: Owner, objects: readonly KubeObject[], caches: ReadonlyMap<string, Informer>,
): Promise<ApplyResult> {
  let written = 0;
  const live: string[] = [];
  const desiredKeys = new Set(objects.map(typedKey));
  for (const [i, obj] of objects.entries()) {
    const cached = caches.get(obj.kind)?.get(objectKey(obj.metadata.namespace, obj.metadata.name));
    const rest = () => objects.slice(i).map(describe);
    const other = obj.metadata.namespace === owner.metadata.namespace ? otherController(cached, owner) : undefined;
    if (other) {
      const message = `${describe(obj)} already belongs to ${other.kind} ${other.name}: the names derived from ${owner.kind} ${owner.metadata.name} and ${other.kind} ${other.name} collide; rename one of them`;
      return {
        written, desiredKeys, live, notApplied: rest(), conflict: typedKey(obj),
        failure: { reason: ApplyReasons.NameConflict, message, detail: message, retry: NO_RETRY, report: true },
      };
    }
    if (cached && isApplied(obj, cached)) { live.push(describe(obj)); continue; }
    try {
      await applyObject(client, obj);
      written++;
      live.push(describe(obj));
    } catch (err) {
      return { written, desiredKeys, live, notApplied: rest(), failure: failureOf(ApplyReasons.ApplyFailed, describe(obj), err) };
    }
  }
  return { written, desiredKeys, live, notApplied: [] };
}

export interface PruneResult {
  /** Objects deleted this round. */
  readonly deleted: number;
  readonly failure?: Failure;
}

/** Deletes the cached objects labelled as part of `ownerUid` that are not desired any more. */
export async function pruneOrphans(
  client: KubeClient, ownerUid: string, desiredKeys: ReadonlySet<string>, caches: Iterable<Informer>,
): Promise<PruneResult> {
  let deleted = 0;
  for (const informer of caches) {
    for (const obj of informer.byLabel(ownerUid)) {
      if (desiredKeys.has(typedKey(obj))) continue;
      try {
        // Gone already, or recreated under a new UID: either way nothing of ours is left to delete.
        if (await deleteIfUnchanged(client, informer.type, obj)) deleted++;
      } catch (err) {
        return { deleted, failure: failureOf(ApplyReasons.PruneFailed, `deleting ${describe(obj)}`, err) };
      }
    }
  }
  return { deleted };
}
