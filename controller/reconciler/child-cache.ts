/**
 * What the caches of rendered children keep of each live object: what reconcile reads, and nothing else.
 * Apply compares the rendered object with the fields our field manager applied (a field we never applied
 * is absent, so it is applied once more at most); prune and the conflict check read the identity, labels
 * and ownerReferences; the status reads a Deployment's ready replicas and an HTTPRoute's Accepted condition
 * per parent.
 */
import { KubeObject } from '../../manifests/api.js';
import { fieldsAppliedBy, projectFields } from '../kube/managed-fields.js';
import { FIELD_MANAGER } from './apply.js';

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
 * `obj` reduced to what reconcile reads of a child: its identity, the fields we applied, and some status.
 * Built field by field in a fixed order rather than by spreading: objects spread from differently shaped
 * sources get a hidden class each in V8 (~200 bytes per object, more than the fields they hold).
 */
export function slimChild(obj: KubeObject): KubeObject {
  const applied = fieldsAppliedBy(obj.metadata.managedFields, FIELD_MANAGER);
  const owned = (applied ? projectFields(obj, applied) : {}) as Record<string, any>;
  const m = obj.metadata;
  const slim: Record<string, any> = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    // The metadata kept whoever set it: prune selects by labels, the conflict check reads the controller reference.
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, generation: m.generation,
      labels: m.labels, annotations: owned.metadata?.annotations, ownerReferences: m.ownerReferences, deletionTimestamp: m.deletionTimestamp,
    },
  };
  for (const k of Object.keys(owned)) if (!(k in slim)) slim[k] = owned[k];
  const status = readStatus(obj);
  if (status) slim.status = status;
  return slim as KubeObject;
}
