/**
 * Rendering in parts: entries render independently of each other, so any split between threads gives the
 * files one thread gives; a render thread that cannot run has its share rendered on the main thread.
 * (The built CLI's real render thread is exercised by the image test.)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultThreads, synthFiles } from '../../controller/cli/synth.js';
import { renderConfig } from '../../manifests/config.js';
import { assemble, planSynth, renderEntry, synthesize } from '../../manifests/synth.js';
import { agent, clientInstance, clientPool, exampleDocuments, mcpServer, modelApi, sources } from './fixtures.js';

const config = renderConfig();

describe('rendering entries independently', () => {
  test('entries rendered in any order assemble into the files synthesize writes', () => {
    const docs = [...exampleDocuments(), ...sources(clientPool({}, 'pool'), clientInstance({ pool: 'pool' }, 'one'), agent({}, 'other'), mcpServer({}, 'tools'))];
    const expected = synthesize(docs, config);
    expect(expected.errors).toEqual([]);
    expect(expected.files.size).toBeGreaterThan(8);

    const plan = planSynth(docs);
    const order = plan.entries.map((_, i) => i).reverse();
    const rendered = new Array(plan.entries.length);
    for (const i of order) rendered[i] = renderEntry(plan.entries[i], config);
    const result = assemble(plan, rendered, config);
    expect([...result.files.entries()]).toEqual([...expected.files.entries()]);
    expect(result.warnings).toEqual(expected.warnings);
  });

  test('a ClientInstance entry carries its ClientPool from the other inputs', () => {
    const plan = planSynth(sources(clientInstance({ pool: 'pool' }, 'one'), clientPool({}, 'pool')));
    const instance = plan.entries.find((e) => e.doc.kind === 'ClientInstance')!;
    expect(instance.clientPool?.metadata.name).toBe('pool');
    expect(renderEntry(instance, config).errors).toEqual([]);
  });

  test('collisions between entries are found when assembling, whichever entry rendered first', () => {
    const { errors } = synthesize(sources(modelApi({ pools: [{ name: 'bar' }] }, 'foo'), modelApi({}, 'foo-bar')), config);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/renders Deployment modelapi-foo-bar, which ModelAPI\/foo renders too/);
  });
});

describe('synthFiles with render threads', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'agentway-synth-threads-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const read = (d: string) => Object.fromEntries(readdirSync(d).sort().map((f) => [f, readFileSync(path.join(d, f), 'utf8')]));

  test('a render thread that cannot start (run from source) leaves its share to the main thread, with the same files', async () => {
    const out = path.join(dir, 'out');
    const result = await synthFiles([path.resolve('examples')], out, config, { threads: 2 });
    expect(result.errors).toEqual([]);
    expect(result.render?.threadFailures).toHaveLength(1);
    const entries = planSynth(exampleDocuments()).entries.length;
    expect(result.render?.entriesPerThread).toEqual([0, entries]);
    const expected = synthesize(exampleDocuments(), config);
    expect(read(out)).toEqual(Object.fromEntries([...expected.files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))));
  });

  test('one thread by default when run from source, or with few inputs', () => {
    expect(defaultThreads(10_000)).toBe(1);
    expect(defaultThreads(1)).toBe(1);
  });
});
