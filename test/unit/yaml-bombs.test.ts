/**
 * YAML that expands through aliases (test/data/yaml-bombs/) is refused by `agentway synth` with a clear
 * error, by a process whose heap is capped at 256 MiB: one that walked the expansion would die of it.
 * Aliases as people use them still work.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { MAX_EXPANDED_VALUES, expandedSize } from '../../controller/cli/synth.js';
import { validateResource } from '../../manifests/validate.js';

const ROOT = process.cwd();
const BOMBS = path.join(ROOT, 'test/data/yaml-bombs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agentway-bombs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function synth(file: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'controller/cli.ts'), 'synth', '-f', file, '-o', path.join(tmp, 'out')], {
      cwd: ROOT, timeout: 50_000, env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=256' },
    }, (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }));
  });
}

describe('agentway synth and YAML aliases', () => {
  test.each(readdirSync(BOMBS).sort())('%s is refused with an error naming the aliases', async (file) => {
    const { code, stderr } = await synth(path.join(BOMBS, file));
    expect(stderr).toContain(`${file}: ?: (yaml): the document holds more than ${MAX_EXPANDED_VALUES} values once its aliases are expanded, or contains itself`);
    expect(code).toBe(1);
  }, 60_000);

  test('a file that shares a few values through aliases is rendered', async () => {
    const file = path.join(tmp, 'shared.yaml');
    writeFileSync(file, [
      'apiVersion: agentway.dev/v1alpha1', 'kind: Agent', 'metadata: {name: a, labels: &l {team: ml}}',
      'spec: {image: ghcr.io/acme/agent:1.2, nodeSelector: *l, pools: [{name: x, nodeSelector: *l}, {name: y, nodeSelector: *l}]}', '',
    ].join('\n'));
    expect(await synth(file)).toMatchObject({ code: 0 });
  }, 60_000);
});

describe('expandedSize', () => {
  test('counts each value of the expansion once per copy, without expanding', () => {
    const leaf = ['x', 'y'];
    expect(expandedSize({ a: leaf, b: leaf })).toBe(1 + 3 + 3);
    let doc: unknown = ['x'];
    for (let i = 0; i < 64; i++) doc = [doc, doc];
    expect(expandedSize(doc)).toBe(Infinity);
  });

  test('a value that contains itself has no size', () => {
    const loop: unknown[] = ['sh'];
    loop.push(loop);
    expect(expandedSize({ command: loop })).toBe(Infinity);
  });
});

describe('messages quote bounded parts of a value', () => {
  test('a megabyte string where a number belongs is cut short in the error', () => {
    const { errors } = validateResource({ apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent', metadata: { name: 'a' }, spec: { image: 'ghcr.io/acme/agent:1.2', port: 'p'.repeat(1_000_000) } });
    expect(errors).toEqual([{ path: 'spec.port', message: expect.stringContaining('(1000000 characters)') }]);
    expect(errors[0].message.length).toBeLessThan(200);
  });

  test('a large object where a number belongs is only named', () => {
    const big = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
    const { errors } = validateResource({ apiVersion: 'agentway.dev/v1alpha1', kind: 'Agent', metadata: { name: 'a' }, spec: { image: 'ghcr.io/acme/agent:1.2', replicas: big } });
    expect(errors).toEqual([{ path: 'spec.replicas', message: 'must be of type integer, got an object' }]);
  });
});
