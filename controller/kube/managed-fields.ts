/**
 * The part of a live object one field manager owns, read from its `managedFields`. Server-side apply records
 * each manager's fields as a `fieldsV1` set: `f:<name>` is a field of a map, `k:<json>` an element of a list
 * keyed by some of its fields, `v:<json>` an element of a set of values, `i:<n>` an element by index, and `.`
 * the element itself; an empty set owns the whole value under it (a scalar, or an atomic list or map).
 */

/** A `fieldsV1` set: its keys name what is owned under a value, each with the set of what is owned under it. */
export type FieldSet = { readonly [key: string]: FieldSet };

interface ManagedFieldsEntry { manager?: string; operation?: string; subresource?: string; fieldsType?: string; fieldsV1?: FieldSet }

/** `a` and `b` together: what either owns. */
export function unionFields(a: FieldSet, b: FieldSet): FieldSet {
  const out: Record<string, FieldSet> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in a ? unionFields(a[k], v) : v;
  return out;
}

/**
 * The fields `manager` owns by server-side apply on the object itself (not a subresource such as status);
 * undefined when it has applied none.
 */
export function fieldsAppliedBy(managedFields: unknown, manager: string): FieldSet | undefined {
  if (!Array.isArray(managedFields)) return undefined;
  let set: FieldSet | undefined;
  for (const e of managedFields as ManagedFieldsEntry[]) {
    if (e?.manager !== manager || e.operation !== 'Apply' || e.subresource || e.fieldsType !== 'FieldsV1') continue;
    if (!e.fieldsV1 || typeof e.fieldsV1 !== 'object') continue;
    set = set ? unionFields(set, e.fieldsV1) : e.fieldsV1;
  }
  return set;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Values as the API server compares list keys: scalars by value, anything else by its JSON. */
function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));
}

/** A parsed list-element key of a set: which element of a list it names. */
type ElementKey =
  | { readonly by: 'key'; readonly fields: Record<string, unknown>; readonly set: FieldSet }
  | { readonly by: 'value'; readonly value: unknown; readonly set: FieldSet }
  | { readonly by: 'index'; readonly index: number; readonly set: FieldSet };

function elementKeys(set: FieldSet): ElementKey[] {
  const keys: ElementKey[] = [];
  for (const [k, sub] of Object.entries(set)) {
    try {
      if (k.startsWith('k:')) {
        const fields = JSON.parse(k.slice(2));
        if (isPlainObject(fields)) keys.push({ by: 'key', fields, set: sub });
      } else if (k.startsWith('v:')) {
        keys.push({ by: 'value', value: JSON.parse(k.slice(2)), set: sub });
      } else if (k.startsWith('i:')) {
        keys.push({ by: 'index', index: Number(k.slice(2)), set: sub });
      }
    } catch {
      // A key that is not JSON names no element we can find; its fields are left out.
    }
  }
  return keys;
}

function matches(key: ElementKey, element: unknown, index: number): boolean {
  switch (key.by) {
    case 'key': return isPlainObject(element) && Object.entries(key.fields).every(([f, v]) => sameValue(element[f], v));
    case 'value': return sameValue(element, key.value);
    case 'index': return key.index === index;
  }
}

/**
 * `value` reduced to the fields `set` names, in the order they are in `value`: what the manager of `set`
 * sent. A list keeps the elements the set names, each with the fields the set names (the key fields among
 * them when the manager sent them, not when the server defaulted them); a map keeps the named fields that
 * are present.
 */
export function projectFields(value: unknown, set: FieldSet): unknown {
  if (Object.keys(set).length === 0) return value;
  if (Array.isArray(value)) {
    const keys = elementKeys(set);
    const out: unknown[] = [];
    value.forEach((element, i) => {
      const key = keys.find((k) => matches(k, element, i));
      if (key) out.push(projectFields(element, key.set));
    });
    return out;
  }
  if (isPlainObject(value)) {
    // Built by adding fields in the set's order, never by spreading, so that objects of one kind share
    // their V8 hidden classes.
    const out: Record<string, unknown> = {};
    for (const [k, sub] of Object.entries(set)) {
      if (!k.startsWith('f:')) continue;
      const name = k.slice(2);
      if (name in value) out[name] = projectFields(value[name], sub);
    }
    return out;
  }
  return value;
}
