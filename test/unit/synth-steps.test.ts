/**
 * Synthesis in steps: picking the entries, rendering each on its own, assembling the files. Entries render
 * independently of each other, so the order they render in changes nothing.
 */
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
