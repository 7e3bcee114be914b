/** The bad-CR corpus of test/data/bad-crs.yaml, as the tests read it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';

export interface BadCr {
  readonly name: string;
  /** The one field path an error must name. */
  readonly path: string;
  readonly apiserver: 'refused' | 'invalidSpec' | 'pruned';
  /** The CR: `apiVersion` and `metadata.name` are filled in when absent. */
  readonly cr: Record<string, any>;
}

/** Every case, its CR completed with `apiVersion` and the name `bad-{index}` where it sets none. */
export function badCrs(): BadCr[] {
  const cases = load(readFileSync(path.join(process.cwd(), 'test/data/bad-crs.yaml'), 'utf8')) as BadCr[];
  return cases.map((c, i) => ({
    ...c,
    cr: { apiVersion: 'agentway.dev/v1alpha1', ...c.cr, metadata: { name: `bad-${i}`, ...(c.cr.metadata ?? {}) } },
  }));
}
