/** The bad-CR corpus (test/data/bad-crs.yaml) through synth: every case is an error at its path, and nothing is written. */
import { describe, expect, test } from '@jest/globals';
import { renderConfig } from '../../manifests/config.js';
import { synthesize } from '../../manifests/synth.js';
import { badCrs } from '../data/bad-crs.js';

const CASES = badCrs();

describe('the bad-input corpus through synth', () => {
  test('holds at least 50 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(50);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s is an error at its path', (_, c) => {
    const result = synthesize([{ source: 'bad.yaml', doc: { ...c.cr, metadata: { namespace: 'ai', ...c.cr.metadata } } }], renderConfig());
    expect(result.errors.map((e) => e.path)).toEqual([c.path]);
    expect(result.files.size).toBe(0);
  });
});
