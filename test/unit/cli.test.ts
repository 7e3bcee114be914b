/**
 * `agentway synth` and `agentway crds` end to end, as a subprocess: files in, files (or errors) out.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { renderConfig } from '../../manifests/config.js';
import { SHARED_FILE, synthesize } from '../../manifests/synth.js';
import { CR, Json, agent, clientInstance, clientPool, exampleDocuments, mcpServer, objectsInYaml } from './fixtures.js';

const ROOT = process.cwd();
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(ROOT, 'controller', 'cli.ts');
const TIMEOUT = 60_000;

interface Outcome { readonly code: number; readonly stdout: string; readonly stderr: string }

function agentway(args: readonly string[], extraEnv: Record<string, string> = {}, stdin = ''): Promise<Outcome> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  // The tests own the configuration: nothing from the caller's shell leaks in.
  for (const key of Object.keys(childEnv)) {
    if ((key.startsWith('GATEWAY_DEFAULT_') && !(key in extraEnv)) || key === 'CDK8S_OUTDIR') delete childEnv[key];
  }
  return new Promise((resolve) => {
    const child = execFile(TSX, [CLI, ...args], { cwd: ROOT, env: childEnv, timeout: TIMEOUT - 5_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}

let tmp: string;

/** Writes `docs` as one YAML file (several documents when more than one) and returns its path. */
function writeCrs(file: string, ...docs: unknown[]): string {
  const full = path.join(tmp, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, docs.map((d) => stringify(d)).join('---\n'));
  return full;
}

const out = (scenario: string) => path.join(tmp, 'out', scenario);
const readDir = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
const listDir = (dir: string) => { try { return readdirSync(dir).sort(); } catch { return []; } };
const objectsIn = (scenario: string, file: string): Json[] => objectsInYaml(readFileSync(path.join(out(scenario), file), 'utf8'));
const routeIn = (scenario: string, file: string): Json => objectsIn(scenario, file).find((o) => o.kind === 'HTTPRoute');

/** Input files, by scenario; filled in beforeAll. */
const files: Record<string, string> = {};
/** What each command line gave; every command runs once, all at the same time, in beforeAll. */
const runs: Record<string, Outcome> = {};

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentway-cli-'));
  writeCrs('bad/good.yaml', agent());
  files.bad = writeCrs('bad/bad.yaml', agent({ replicas: -1 }, 'broken'));
  files.multi = writeCrs('multi.yaml', agent({ port: 0 }, 'one'), mcpServer(), mcpServer({ gatewayRoute: { timeout: 'soon' } }, 'three'));
  files.syntax = path.join(tmp, 'syntax.yaml');
  writeFileSync(files.syntax, 'apiVersion: agentway.dev/v1alpha1\nkind: Agent\nmetadata: {name: x\n');
  files.mixed = writeCrs('mixed.yaml', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' } }, agent());
  writeCrs('own/lab/mcp.yaml', mcpServer({ pools: [{ name: 'east' }, { name: 'west', replicas: 3 }] }, 'tools', 'lab'));
  writeCrs('own/lab/pool.yml', clientPool({}, 'sandbox', 'lab'), clientInstance({}, 'sandbox-acme-one', 'lab'));
  files.agent = writeCrs('agent.yaml', agent());
  files.mcp = writeCrs('mcp.yaml', mcpServer());
  files.tolerating = writeCrs('tolerating.yaml', agent({ tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }, { operator: 'Exists' }] }));
  files.dangling = writeCrs('dangling.yaml', agent({ modelAPI: 'absent', mcpServers: ['search', 'gone'] }), mcpServer());

  const scenarios: Record<string, [string[], Record<string, string>?, string?]> = {
    examples: [['synth', '-f', 'examples', '-o', out('examples')]],
    examplesAgain: [['synth', '-f', 'examples', '-o', out('examplesAgain')]],
    bad: [['synth', '-f', path.join(tmp, 'bad'), '-o', out('bad')]],
    multi: [['synth', '-f', files.multi, '-o', out('multi')]],
    syntax: [['synth', '-f', files.syntax, '-o', out('syntax')]],
    missing: [['synth', '-f', path.join(tmp, 'missing'), '-o', out('missing')]],
    noFile: [['synth', '-o', out('noFile')]],
    mixed: [['synth', '-f', files.mixed, '-o', out('mixed')]],
    own: [['synth', '-f', path.join(tmp, 'own'), '-o', out('own')]],
    gatewayFlags: [['synth', '-f', files.agent, '-o', out('gatewayFlags'), '--gateway-name', 'edge', '--no-create-gateway']],
    mcpTimeoutEnv: [['synth', '-f', files.mcp, '-o', out('mcpTimeoutEnv')], { GATEWAY_DEFAULT_MCP_TIMEOUT: '10s' }],
    badTimeoutFlag: [['synth', '-f', files.agent, '-o', out('badTimeoutFlag'), '--default-agent-timeout', '5minutes']],
    synthHelp: [['synth', '--help']],
    help: [['--help']],
    unknownCommand: [['synthesise']],
    crds: [['crds']],
    dangling: [['synth', '-f', files.dangling, '-o', out('dangling')]],
    policy: [['synth', '-f', files.tolerating, '-o', out('policy'), '--allowed-tolerations', 'nvidia.com/gpu,example.com/dedicated']],
    toStdout: [['synth', '-f', 'examples', '-o', '-']],
    badToStdout: [['synth', '-f', files.bad, '-o', '-']],
    fromStdin: [['synth', '-f', '-', '-o', out('fromStdin')], {}, readFileSync(files.dangling, 'utf8')],
    badFromStdin: [['synth', '-f', '-', '-o', out('badFromStdin')], {}, readFileSync(files.bad, 'utf8')],
    install: [['install']],
    installImage: [['install', '--image', 'registry.example.com/platform/agentway:0.1.0']],
    installPolicy: [['install', '--allowed-tolerations', 'nvidia.com/gpu', '--allowed-node-selectors', 'gpu=a100,topology.kubernetes.io/zone']],
  };
  // As many at a time as there are CPUs: more only makes them fight over the CPUs.
  const queue = Object.entries(scenarios);
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) runs[next[0]] = await agentway(...next[1]);
  };
  await Promise.all(Array.from({ length: Math.max(1, os.availableParallelism()) }, worker));
}, 4 * TIMEOUT);

afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('agentway synth', () => {
  test('renders examples/ with exit 0, one file per CR plus the shared file', () => {
    expect([runs.examples.code, listDir(out('examples'))]).toEqual([0, [
      SHARED_FILE, 'ai.agent.research.yaml', 'ai.clientpool.sandbox.yaml', 'ai.mcpserver.search.yaml', 'ai.modelapi.llama.yaml',
      'ai.modelapi.llm-d-decode.yaml', 'ai.modelapi.qwen.yaml', 'ai.modelroute.llama-3-1-8b.yaml',
    ]]);
  });

  test('writes exactly what synthesize renders', () => {
    const expected = [...synthesize(exampleDocuments(), renderConfig()).files].sort(([a], [b]) => (a < b ? -1 : 1));
    expect(readDir(out('examples'))).toEqual(Object.fromEntries(expected));
  });

  test('writes byte-identical files on a second run', () => {
    expect(readDir(out('examplesAgain'))).toEqual(readDir(out('examples')));
  });

  test('-o - writes the documents of every file to stdout, as one YAML stream in the order synthesize renders them', () => {
    // A file with no objects (a ModelAPI that names model servers it does not run) adds no empty document.
    const expected = [...synthesize(exampleDocuments(), renderConfig()).files.values()].filter((text) => text !== '');
    expect([runs.toStdout.code, runs.toStdout.stdout]).toEqual([0, expected.join('---\n')]);
    expect(objectsInYaml(runs.toStdout.stdout)).toEqual(expected.flatMap(objectsInYaml));
    expect(runs.toStdout.stderr).toContain('wrote the documents of 8 file(s) to standard output');
  });

  test('-o - writes nothing to stdout when a CR fails', () => {
    expect([runs.badToStdout.code, runs.badToStdout.stdout]).toEqual([1, '']);
    expect(runs.badToStdout.stderr).toContain('Agent/broken: spec.replicas: must be >= 0, got -1');
  });

  test('-f - reads the CRs from stdin, and names stdin in errors', () => {
    expect([runs.fromStdin.code, listDir(out('fromStdin'))])
      .toEqual([0, [SHARED_FILE, 'ai.agent.research.yaml', 'ai.mcpserver.search.yaml'].sort()]);
    expect(runs.fromStdin.stderr).toContain('warning: <stdin>#1: Agent/research: spec.modelAPI: ModelAPI "absent" is not among the inputs');
    expect([runs.badFromStdin.code, runs.badFromStdin.stderr.split('\n')])
      .toEqual([1, expect.arrayContaining(['<stdin>: Agent/broken: spec.replicas: must be >= 0, got -1'])]);
    expect(listDir(out('badFromStdin'))).toEqual([]);
  });

  test('reports how many files it wrote', () => {
    expect(runs.examples.stderr).toContain(`wrote 8 file(s) to ${out('examples')}`);
  });

  test('a bad CR exits non-zero with "file: Kind/name: field: reason" on stderr', () => {
    expect([runs.bad.code, runs.bad.stderr.split('\n')])
      .toEqual([1, expect.arrayContaining([`${files.bad}: Agent/broken: spec.replicas: must be >= 0, got -1`])]);
  });

  test('an Agent whose ModelAPI or MCPServer is not among the inputs renders, with a warning on stderr', () => {
    expect([runs.dangling.code, runs.dangling.stderr.split('\n').filter((l) => l.startsWith('warning:'))]).toEqual([0, [
      `warning: ${files.dangling}#1: Agent/research: spec.modelAPI: ModelAPI "absent" is not among the inputs in namespace "ai"; the Agent stays Ready=False until it exists`,
      `warning: ${files.dangling}#1: Agent/research: spec.mcpServers[1]: MCPServer "gone" is not among the inputs in namespace "ai"; the Agent stays Ready=False until it exists`,
    ]]);
    expect(listDir(out('dangling'))).toContain('ai.agent.research.yaml');
  });

  test('--allowed-tolerations refuses a toleration outside the list at its path', () => {
    expect([runs.policy.code, runs.policy.stderr.split('\n')]).toEqual([1, expect.arrayContaining([
      `${files.tolerating}: Agent/research: spec.tolerations[1]: a toleration of every taint (no key) is not allowed by the controller's policy; allowed taint keys: nvidia.com/gpu, example.com/dedicated`,
    ])]);
  });

  test('install passes the scheduling policy on to the controller it installs', () => {
    const controller = objectsInYaml(runs.installPolicy.stdout).find((o) => o.kind === 'Deployment' && o.metadata.name === 'agentway-controller');
    expect(controller.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining([
      '--allowed-tolerations=nvidia.com/gpu', '--allowed-node-selectors=gpu=a100,topology.kubernetes.io/zone',
    ]));
  });

  test('install runs the image `npm run image` builds, tagged with the package version, unless --image names another', () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const images = (stdout: string) => [...new Set(objectsInYaml(stdout).filter((o) => o.kind === 'Deployment')
      .flatMap((d) => d.spec.template.spec.containers.map((c: Json) => c.image)))];
    expect(runs.install.code).toBe(0);
    expect(images(runs.install.stdout)).toEqual([`localhost/agentway:${version}`]);
    expect(images(runs.installImage.stdout)).toEqual(['registry.example.com/platform/agentway:0.1.0']);
  });

  test('a bad CR writes no files, not even those of the good CRs', () => {
    expect(listDir(out('bad'))).toEqual([]);
  });

  test('every bad document of a multi-document file is reported with its index', () => {
    expect(runs.multi.stderr.split('\n').filter((l) => l.startsWith(files.multi))).toEqual([
      `${files.multi}#1: Agent/one: spec.port: must be >= 1, got 0`,
      `${files.multi}#3: MCPServer/three: spec.gatewayRoute.timeout: must be a duration such as "30s", "5m" or "1h30m", got "soon"`,
    ]);
  });

  test('a YAML syntax error exits non-zero and names the file', () => {
    expect([runs.syntax.code, runs.syntax.stderr]).toEqual([1, expect.stringContaining(`${files.syntax}: ?: (yaml): `)]);
  });

  test('a path that does not exist exits non-zero', () => {
    expect([runs.missing.code, runs.missing.stderr]).toEqual([1, expect.stringMatching(/^agentway synth: .*missing/)]);
  });

  test('without -f it exits non-zero and says the option is required', () => {
    expect([runs.noFile.code === 0, runs.noFile.stderr]).toEqual([false, expect.stringContaining('--file')]);
  });

  test('documents of other API groups are skipped with a note, and the rest renders', () => {
    expect([runs.mixed.code, runs.mixed.stderr.split('\n')[0], listDir(out('mixed'))])
      .toEqual([0, `${files.mixed}#1: skipped (not an agentway.dev resource)`, [SHARED_FILE, 'ai.agent.research.yaml']]);
  });

  test('renders CR files (.yaml and .yml) found in subdirectories', () => {
    expect([runs.own.code, listDir(out('own'))]).toEqual([0, [
      SHARED_FILE, 'lab.clientinstance.sandbox-acme-one.yaml', 'lab.clientpool.sandbox.yaml', 'lab.mcpserver.tools.yaml',
    ]]);
  });

  test('the files of own CRs have the expected shapes', () => {
    const shape = (file: string) => objectsIn('own', file).map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
    expect({
      mcp: shape('lab.mcpserver.tools.yaml'),
      pool: shape('lab.clientpool.sandbox.yaml'),
      instance: shape('lab.clientinstance.sandbox-acme-one.yaml'),
      shared: shape(SHARED_FILE),
    }).toEqual({
      mcp: ['Deployment lab/mcp-tools-east', 'Service lab/mcp-tools-east', 'Deployment lab/mcp-tools-west', 'Service lab/mcp-tools-west', 'HTTPRoute lab/mcp-tools'],
      pool: ['Role lab/client-sandbox-api-keys', 'RoleBinding lab/client-sandbox-api-keys', 'HTTPRoute lab/client-sandbox'],
      instance: ['Deployment lab/client-sandbox-acme-one', 'Service lab/client-sandbox-acme-one', 'HTTPRoute lab/client-sandbox-acme-one'],
      shared: ['Gateway agentway-system/agentway-gateway', 'ReferenceGrant agentway-system/agentway-routes-from-lab'],
    });
  });

  test('the route weights of an own CR follow its pool replicas', () => {
    expect(routeIn('own', 'lab.mcpserver.tools.yaml').spec.rules[0].backendRefs.map((b: Json) => [b.name, b.weight]))
      .toEqual([['mcp-tools-east', 25], ['mcp-tools-west', 75]]);
  });

  test('the ClientInstance route of own CRs sits under its pool path', () => {
    expect(routeIn('own', 'lab.clientinstance.sandbox-acme-one.yaml').spec.rules[0].matches[0].path.value).toBe('/lab/client/sandbox/acme/one');
  });

  test('--gateway-name reaches the routes', () => {
    expect(routeIn('gatewayFlags', 'ai.agent.research.yaml').spec.parentRefs[0].name).toBe('edge');
  });

  test('--no-create-gateway drops the Gateway and with it the shared file', () => {
    expect(listDir(out('gatewayFlags'))).toEqual(['ai.agent.research.yaml']);
  });

  test('GATEWAY_DEFAULT_MCP_TIMEOUT sets the MCP route timeout', () => {
    expect(routeIn('mcpTimeoutEnv', 'ai.mcpserver.search.yaml').spec.rules[0].timeouts).toEqual({ request: '10s' });
  });

  test('a default timeout flag that is not a duration exits non-zero', () => {
    expect([runs.badTimeoutFlag.code === 0, runs.badTimeoutFlag.stderr]).toEqual([false, expect.stringContaining('5minutes')]);
  });

  test('synth --help lists its options', () => {
    expect([runs.synthHelp.code, ['--file', '--output', '--gateway-name'].filter((o) => !runs.synthHelp.stdout.includes(o))]).toEqual([0, []]);
  });
});

describe('agentway', () => {
  test('--help lists the synth and crds commands', () => {
    expect([runs.help.code, ['synth', 'crds'].filter((c) => !new RegExp(`^\\s+${c}\\b`, 'm').test(runs.help.stdout))]).toEqual([0, []]);
  });

  test('an unknown command exits non-zero', () => {
    expect(runs.unknownCommand.code).not.toBe(0);
  });

  test('crds prints the seven CustomResourceDefinitions', () => {
    const docs: CR[] = objectsInYaml(runs.crds.stdout);
    expect([runs.crds.code, docs.map((d) => `${d.kind} ${d.metadata.name}`)]).toEqual([0, [
      'CustomResourceDefinition agents.agentway.dev',
      'CustomResourceDefinition modelapis.agentway.dev',
      'CustomResourceDefinition mcpservers.agentway.dev',
      'CustomResourceDefinition clientpools.agentway.dev',
      'CustomResourceDefinition clientinstances.agentway.dev',
      'CustomResourceDefinition modelroutes.agentway.dev',
      'CustomResourceDefinition modelaccesses.agentway.dev',
    ]]);
  });

  test('crds output has a spec schema for every kind and a status subresource for every kind but ModelRoute', () => {
    const docs: Json[] = objectsInYaml(runs.crds.stdout);
    expect(docs.map((d) => [d.spec.versions[0].subresources, d.spec.versions[0].schema.openAPIV3Schema.properties.spec.type]))
      .toEqual([...Array(5).fill([{ status: {} }, 'object']), [undefined, 'object'], [{ status: {} }, 'object']]);
  });
});
