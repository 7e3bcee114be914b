/**
 * The manifest YAML writer against js-yaml's dump: byte for byte the same text for everything render produces,
 * and for generated values full of the strings, numbers and shapes where the two could part.
 */
import { renderConfig } from '../../manifests/config.js';
import { crdObjects } from '../../manifests/crds.js';
import { renderInstall } from '../../manifests/install.js';
import { synthesize } from '../../manifests/synth.js';
import { dumpWithJsYaml, toYaml, writeYaml } from '../../manifests/yaml.js';
import {
  GPU_AND_CPU_POOLS, agent, clientInstance, clientPool, exampleDocuments, mcpServer, modelApi, objectsInYaml, resource, sources,
} from './fixtures.js';

/** Every object of every file of a synthesis, as the YAML reads back. */
function synthesizedObjects(...args: Parameters<typeof synthesize>): unknown[] {
  const { files, errors } = synthesize(...args);
  expect(errors).toEqual([]);
  return [...files.values()].flatMap(objectsInYaml);
}

const varied = sources(
  agent({ modelAPI: 'llama', mcpServers: ['search', 'fetch'], env: [{ name: 'A', value: 'x: y # z' }, { name: 'B', value: "it's" }], replicas: 3 }),
  agent({ gatewayRoute: { hostnames: ['agents.example.com'], timeout: '0s' }, nodeSelector: { 'example.com/zone': 'a' } }, 'quiet', 'other'),
  modelApi({ pools: GPU_AND_CPU_POOLS, models: ['llama-3.1-8b', '1.0'], ownedBy: 'vLLM', health: { path: '/health' } }),
  resource('ModelAPI', 'remote', { backend: { selector: { matchLabels: { 'llm-d.ai/role': 'decode' } }, port: 8000 }, models: ['m'] }),
  mcpServer({ command: ['serve', '--port=3000'], args: ['--flag', 'yes', 'on', '0x1F', '1_000', '~', 'null', ''], port: 3000 }),
  clientPool({ template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080, tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }] } }),
  clientInstance(),
  resource('ModelRoute', 'route', { model: 'llama-3.1-8b', targets: [{ modelAPI: 'llama', weight: 90 }, { service: { name: 's', port: 80 }, weight: 10 }] }),
);

describe('what render produces', () => {
  const cases: [string, () => unknown[]][] = [
    ['the examples', () => synthesizedObjects(exampleDocuments(), renderConfig())],
    ['the examples with Traefik routes and another Gateway', () => synthesizedObjects(exampleDocuments(), renderConfig({ gateway: { name: 'edge' }, traefik: { enabled: true } }))],
    ['CRs of every kind with lists, selectors, tolerations and strings to quote', () => synthesizedObjects(varied, renderConfig())],
    ['the install manifests', () => [...renderInstall()]],
  ];

  test.each(cases)('%s: the writer writes each object, as js-yaml does', (_, objects) => {
    const all = objects();
    expect(all.length).toBeGreaterThan(0);
    const differing = all.filter((o) => writeYaml(o) !== dumpWithJsYaml(o));
    expect(differing).toEqual([]);
  });

  test('the CRDs (descriptions on several lines) come out as js-yaml writes them', () => {
    const crds = crdObjects();
    expect(toYaml(crds)).toBe(crds.map(dumpWithJsYaml).join('---\n'));
  });
});

describe('generated values', () => {
  // A fixed-seed generator (mulberry32): the same values on every run.
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const next = random(20261203);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];

  // Characters where YAML styles differ: indicators, quotes, spaces, digits and number signs, and characters
  // js-yaml escapes or writes as blocks.
  const chars = [...'abcxyzABEe0123456789_.-+:#?,[]{}&*!|=>\'"%@`~ /\\<'].concat(['\n', '\t', '\r', '\u0085', '\u00a0', 'é', '中', '😀', '\u2028', '\ufeff', '\ud800']);
  const words = ['', 'true', 'False', 'yes', 'No', 'on', 'OFF', 'y', 'null', '~', 'NULL', '1', '-1', '0x1F', '0o17', '0b1', '1_000', '1e3', '.5', '.inf', '-.INF', '.nan',
    '10:30', '1:2:3.5', '2024-01-01', '2024-01-01T10:00:00Z', '<<', '=', '-', '--', '---', '...', '- a', '? a', 'a: b', 'a:b', 'a #b', 'a#b', '#a', 'a:', ' a', 'a ',
    'x'.repeat(1100)];
  const word = (): string => {
    if (next() < 0.4) return pick(words);
    let s = '';
    const n = Math.floor(next() * 6);
    for (let i = 0; i < n; i++) s += pick(chars);
    return s;
  };
  const value = (depth: number): unknown => {
    const r = next();
    if (depth > 3 || r < 0.35) return word();
    if (r < 0.45) return pick([0, 1, -7, 42, 2 ** 53, 1e21, -0, 0.5, -1.25, NaN, Infinity, 1e-7]);
    if (r < 0.5) return pick([true, false, null, undefined, new Date(0)]);
    if (r < 0.75) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [word(), value(depth + 1)]));
  };
  const documents = Array.from({ length: 3000 }, () => value(0));

  test('whatever the writer writes is what js-yaml writes', () => {
    const differing = documents.filter((d) => { const w = writeYaml(d); return w !== undefined && w !== dumpWithJsYaml(d); });
    expect(differing).toEqual([]);
  });

  test('the writer writes most of them and hands the rest to js-yaml', () => {
    const written = documents.filter((d) => writeYaml(d) !== undefined).length;
    expect([written > documents.length / 3, written < documents.length]).toEqual([true, true]);
  });

  test('toYaml writes every one as js-yaml does', () => {
    expect(documents.filter((d) => toYaml([d]) !== dumpWithJsYaml(d))).toEqual([]);
  });
});
