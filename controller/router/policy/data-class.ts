/**
 * Data classes (DESIGN §9): public < internal < confidential < restricted. A request's class comes from its
 * client and may be raised, never lowered, by `x-agentway-data-class`; a target may receive a request only
 * when its own class is at least the request's. Every path that picks a target goes through
 * `eligibleTargets`, so nothing — first choice, fallback, retry or cache — reaches a lower class.
 */
import { PolicyError, policyError } from './errors.js';

export type DataClass = 'public' | 'internal' | 'confidential' | 'restricted';

export const DATA_CLASSES: readonly DataClass[] = ['public', 'internal', 'confidential', 'restricted'];

export const DATA_CLASS_HEADER = 'x-agentway-data-class';

/** Class of requests when no ModelAccess exists at all (anonymous mode). */
export const ANONYMOUS_CLASS: DataClass = 'internal';

export function isDataClass(v: unknown): v is DataClass {
  return typeof v === 'string' && (DATA_CLASSES as readonly string[]).includes(v);
}

export const classRank = (c: DataClass): number => DATA_CLASSES.indexOf(c);

/**
 * A ModelAPI's class: its `dataClass`, else `restricted` for in-cluster inference (it leaves nothing
 * outside the cluster) and `public` for an external provider.
 */
export function modelApiClass(dataClass: DataClass | undefined, external: boolean): DataClass {
  return dataClass ?? (external ? 'public' : 'restricted');
}

/**
 * The class of one request: the client's, or the header's when that is higher. A header naming no class is
 * refused (400) rather than ignored: a caller who meant to raise the class must not be routed as if it had not.
 */
export function requestClass(clientClass: DataClass, header: string | readonly string[] | undefined): DataClass | PolicyError {
  if (header === undefined) return clientClass;
  const values = (Array.isArray(header) ? header : [header]).flatMap((h) => String(h).split(',')).map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  let cls = clientClass;
  for (const v of values) {
    if (!isDataClass(v)) {
      return policyError(400, 'invalid_data_class', 'invalid_request_error', `${DATA_CLASS_HEADER}: must be one of ${DATA_CLASSES.join(', ')}`);
    }
    if (classRank(v) > classRank(cls)) cls = v;
  }
  return cls;
}

/** Targets that may receive a request of class `cls`, in their given order. */
export function eligibleTargets<T extends { readonly dataClass: DataClass }>(targets: readonly T[], cls: DataClass): T[] {
  return targets.filter((t) => classRank(t.dataClass) >= classRank(cls));
}

/** The eligible targets, or 403 `data_class_not_allowed` when none is left (fail closed). */
export function filterByClass<T extends { readonly dataClass: DataClass }>(targets: readonly T[], cls: DataClass, model: string): T[] | PolicyError {
  const eligible = eligibleTargets(targets, cls);
  if (eligible.length > 0) return eligible;
  return policyError(403, 'data_class_not_allowed', 'permission_error',
    `no target of model "${model}" may receive data of class ${cls}`);
}
