/**
 * What the caches of rendered children keep of each live object: what reconcile reads, and nothing else.
 * Apply compares a digest of the fields our field manager applied, as the server stores them, with the same
 * digest of what it would apply now (a field we applied and no longer render, or one another manager took
 * over, makes them differ, and the object is applied again); prune and the conflict check read the identity,
 * the part-of label and the controller's ownerReference; the status reads a Deployment's ready replicas and an
 * HTTPRoute's Accepted condition per parent. Some 500 bytes per child instead of the whole object.
 */
import { KubeObject, ObjectMeta } from '../../manifests/api.js';
import { fieldsAppliedBy, projectFields } from '../kube/managed-fields.js';
import { storedDigest } from '../kube/stored-form.js';

export const FIELD_MANAGER = 'agentway';
/** Carries the UID of the CR an object was rendered for: what prune selects by. */
export const PART_OF_LABEL = 'agentway.dev/part-of';

/** A child as its cache keeps it. */
export interface CachedChild extends KubeObject {
  /** storedDigest of the fields our manager applied; undefined when it applied none. */
  readonly appliedDigest?: string;
}

interface RouteParentStatus { parentRef?: unknown; conditions?: { type?: string }[] }

/** The status fields reconcile reads, by kind; undefined when there are none. */
function readStatus(obj: KubeObject): Record<string, unknown> | undefined {
  if (obj.kind === 'Deployment' && obj.status?.readyReplicas !== undefined) return { readyReplicas: obj.status.readyReplicas };
  if (obj.kind === 'HTTPRoute' && Array.isArray(obj.status?.parents)) {
    return {
      parents: (obj.status.parents as RouteParentStatus[]).map((p) => ({
        parentRef: p.parentRef,
        conditions: (p.conditions ?? []).filter((c) => c.type === 'Accepted'),
      })),
    };
  }
  return undefined;
}

/**
 * One copy of each of the strings many children repeat (namespace, kinds, API versions): each object read
 * from a watch brings its own. Bounded, so that a cluster of many namespaces cannot grow it without end.
 */
const interned = new Map<string, string>();
const MAX_INTERNED = 10_000;
function intern<T extends string | undefined>(s: T): T {
  if (s === undefined) return s;
  const known = interned.get(s);
  if (known !== undefined) return known as T;
  if (interned.size < MAX_INTERNED) interned.set(s, s);
  return s;
}

/** The fields of `obj` that apply sends: all but its identity, which the server records as nobody's field. */
function appliedPart(obj: KubeObject): Record<string, unknown> {
  const { apiVersion: _v, kind: _k, status: _s, metadata, ...rest } = obj;
  const { name: _n, namespace: _ns, ...meta } = metadata;
  return { ...rest, metadata: meta };
}

/**
 * Whether `cached` holds what applying `desired` would leave, as the fields our manager owns: then applying
 * it would change nothing.
 */
export function isApplied(desired: KubeObject, cached: KubeObject): boolean {
  const digest = (cached as CachedChild).appliedDigest;
  return digest !== undefined && digest === storedDigest(appliedPart(desired));
}

/**
 * `obj` reduced to what reconcile reads of a child. Built field by field in a fixed order rather than by
 * spreading: objects spread from differently shaped sources get a hidden class each in V8 (~200 bytes per
 * object, more than the fields they hold).
 */
export function slimChild(obj: KubeObject): KubeObject {
  const applied = fieldsAppliedBy(obj.metadata.managedFields, FIELD_MANAGER);
  const m = obj.metadata;
  const partOf = m.labels?.[PART_OF_LABEL];
  const owner = m.ownerReferences?.find((r) => r.controller);
  const metadata: ObjectMeta = {
    name: m.name, namespace: intern(m.namespace), uid: m.uid, resourceVersion: m.resourceVersion,
    labels: partOf === undefined ? undefined : { [PART_OF_LABEL]: partOf },
    ownerReferences: owner && [{
      apiVersion: intern(owner.apiVersion), kind: intern(owner.kind), name: owner.name, uid: owner.uid, controller: true,
    }],
    deletionTimestamp: m.deletionTimestamp,
  };
  const slim: CachedChild = {
    apiVersion: intern(obj.apiVersion), kind: intern(obj.kind), metadata,
    status: readStatus(obj),
    appliedDigest: applied ? storedDigest(projectFields(obj, applied)) : undefined,
  };
  return slim;
}
