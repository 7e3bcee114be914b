/** ClientInstance names: one per (pool, client, instance), never shared by two. */
import { describe, expect, test } from '@jest/globals';
import { maxNameLength } from '../../manifests/crds.js';
import { clientInstanceName, isDnsLabel } from '../../manifests/names.js';

/** Every DNS label over `a`, `b` and `-` up to `length` characters. */
function labels(length: number): string[] {
  let all = ['a', 'b'];
  const out = [...all];
  for (let n = 2; n <= length; n++) {
    all = all.flatMap((s) => ['a', 'b', '-'].map((c) => s + c));
    out.push(...all.filter(isDnsLabel));
  }
  return out;
}

describe('clientInstanceName', () => {
  test('parts that hold "-" cannot make two clients share a name', () => {
    expect(clientInstanceName('sandbox', 'alice', 'dev-one')).not.toBe(clientInstanceName('sandbox', 'alice-dev', 'one'));
    expect(clientInstanceName('a-b', 'c', 'd')).not.toBe(clientInstanceName('a', 'b-c', 'd'));
  });

  test('distinct triples of short parts give distinct names (exhaustive over a, b and -)', () => {
    const parts = labels(4);
    const seen = new Map<string, string>();
    for (const pool of parts) for (const client of parts) for (const instance of parts) {
      const triple = `${pool}/${client}/${instance}`;
      const name = clientInstanceName(pool, client, instance);
      expect(seen.get(name) ?? triple).toBe(triple);
      seen.set(name, triple);
    }
    expect(seen.size).toBe(parts.length ** 3);
  });

  test('a hashed name is never also a readable one', () => {
    const long = 'c'.repeat(50);
    const hashed = clientInstanceName('sandbox', long, 'one');
    expect(hashed).toMatch(/^sandbox---[0-9a-f]{16}$/);
    // The readable form never holds a run of exactly three hyphens.
    for (const p of labels(4)) expect(clientInstanceName(p, p, p)).not.toMatch(/(^|[^-])---([^-]|$)/);
  });

  test('every name is a DNS label short enough for its derived objects', () => {
    for (const [p, c, i] of [['a', 'b', 'c'], ['pool-x', 'c'.repeat(63), 'i'.repeat(63)], ['p'.repeat(40) + '-q', 'c', 'i'.repeat(30)]]) {
      const name = clientInstanceName(p, c, i);
      expect(isDnsLabel(name)).toBe(true);
      expect(name.length).toBeLessThanOrEqual(maxNameLength('ClientInstance'));
    }
  });
});
