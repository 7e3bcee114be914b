/**
 * Values as the API server stores them: resource quantities in canonical form (`0.5` → `500m`), empty
 * strings, lists and maps left out (`omitempty`). Two values with the same stored form are the same to the
 * server, whichever way each was written.
 */
import { createHash } from 'node:crypto';

const QUANTITY = /^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[+-]?[0-9]+|E[+-]?[0-9]+)?$/;
const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The value of a Kubernetes quantity (`500m`, `0.5`, `1Gi`), or undefined when it is not one. */
export function quantityValue(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return undefined;
  const suffix = m[2] ?? '';
  if (/^[eE]/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  return n * SUFFIX[suffix];
}

/** Whether a value is one the API server omits when stored (`omitempty`): empty string, list or object. */
export function omittedWhenEmpty(v: unknown): boolean {
  return v === '' || (Array.isArray(v) && v.length === 0) || (!!v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
}

/** Keys whose values are resource quantities, which the server stores in canonical form. */
export const QUANTITY_PARENTS: ReadonlySet<string> = new Set(['limits', 'requests']);

/**
 * The JSON of `value`'s stored form, the same for any two values the server stores alike: map keys sorted,
 * undefined and empty values left out, quantities under `limits` and `requests` as numbers. List order counts.
 */
export function storedJson(value: unknown): string {
  return stored(value, '');
}

/** Quoted map keys: the same few hundred names recur in every object. */
const quotedKeys = new Map<string, string>();
function quoted(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, q);
  }
  return q;
}

/** The stored form's JSON of `value`; '' when the server would leave it out. */
function stored(value: unknown, parentKey: string): string {
  if (value === undefined) return '';
  if (typeof value === 'string') {
    if (value === '') return '';
    if (QUANTITY_PARENTS.has(parentKey)) {
      const q = quantityValue(value);
      // Rounded: `1.5Gi` and `1536Mi` may differ in the last bits of a double.
      if (q !== undefined) return `#${Number(q.toPrecision(12))}`;
    }
    return JSON.stringify(value);
  }
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'number' && QUANTITY_PARENTS.has(parentKey)) return `#${Number(value.toPrecision(12))}`;
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return '';
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += stored(value[i], '') || 'null';
    }
    return `${out}]`;
  }
  const keys = Object.keys(value);
  // Usually in order already: render and the server both write sorted keys.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) { keys.sort(); break; }
  }
  // A quantity map's keys are resource names: its values are all quantities.
  const quantities = QUANTITY_PARENTS.has(parentKey);
  let out = '';
  for (const k of keys) {
    const v = stored((value as Record<string, unknown>)[k], quantities ? parentKey : k);
    if (v === '') continue;
    out += `${out === '' ? '{' : ','}${quoted(k)}:${v}`;
  }
  return out === '' ? '' : `${out}}`;
}

/** A short digest of `value`'s stored form: equal for values the server stores alike. */
export function storedDigest(value: unknown): string {
  return createHash('sha256').update(storedJson(value)).digest('base64url');
}
