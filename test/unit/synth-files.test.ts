/**
 * synthFiles: the output directory after a synth, whether it existed or not, and after a synth that failed.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { synthFiles } from '../../controller/cli/synth.js';
import { renderConfig } from '../../manifests/config.js';
import { SHARED_FILE, synthesize } from '../../manifests/synth.js';
import { agent, mcpServer, modelApi, sources } from './fixtures.js';

const config = renderConfig();
let tmp: string;

beforeEach(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'agentway-synth-files-')); });
afterEach(() => { rmSync(tmp, { recursive: true, force: true }); });

/** Writes each CR to a file of its own under `in/` and returns the directory. */
function inputs(...crs: Record<string, any>[]): string {
  const dir = path.join(tmp, 'in');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  crs.forEach((cr, i) => writeFileSync(path.join(dir, `${i}.yaml`), stringify(cr)));
  return dir;
}

const contents = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
/** Every entry under `tmp`, but the inputs. */
const entries = () => readdirSync(tmp, { recursive: true }).map(String).filter((p) => p !== 'in' && !p.startsWith(`in${path.sep}`)).sort();

const good = [agent(), mcpServer(), modelApi()];
const expected = () => Object.fromEntries([...synthesize(sources(...good), config).files].sort(([a], [b]) => (a < b ? -1 : 1)));

describe('a synth that succeeds', () => {
  test('creates the output directory, its parents too, with exactly the files synthesize renders', async () => {
    const out = path.join(tmp, 'a', 'b', 'out');
    const result = await synthFiles([inputs(...good)], out, config);
    expect([result.errors, contents(out)]).toEqual([[], expected()]);
  });

  test('leaves nothing else behind: no staging directory beside the output', async () => {
    await synthFiles([inputs(...good)], path.join(tmp, 'out'), config);
    expect(entries()).toEqual(['out', ...Object.keys(expected()).map((f) => path.join('out', f))].sort());
  });

  test('in an existing directory, replaces its own files and keeps the others', async () => {
    const out = path.join(tmp, 'out');
    mkdirSync(out);
    writeFileSync(path.join(out, 'README'), 'kept');
    writeFileSync(path.join(out, SHARED_FILE), 'stale');
    await synthFiles([inputs(...good)], out, config);
    expect(contents(out)).toEqual({ ...expected(), README: 'kept' });
    expect(entries().filter((p) => !p.startsWith(`out${path.sep}`))).toEqual(['out']);
  });

  test('a second synth into the same directory writes the same bytes', async () => {
    const out = path.join(tmp, 'out');
    await synthFiles([inputs(...good)], out, config);
    const first = contents(out);
    await synthFiles([inputs(...good)], out, config);
    expect(contents(out)).toEqual(first);
  });
});

describe('a synth that fails writes nothing', () => {
  // Sorted by key, Agent foo (whose pool bar renders agent-foo-bar) comes before Agent foo-bar: its file is
  // written by the time the collision is found.
  const colliding = [mcpServer(), agent({ pools: [{ name: 'bar' }] }, 'foo'), agent({}, 'foo-bar')];

  test('a CR that fails after others rendered: no output directory, and none of the parents made for it', async () => {
    const out = path.join(tmp, 'a', 'b', 'out');
    const result = await synthFiles([inputs(agent(), mcpServer(), agent({ replicas: -1 }, 'zz-broken'))], out, config);
    expect([result.errors.map((e) => e.path), result.files.size, entries()]).toEqual([['spec.replicas'], 0, []]);
  });

  test('an invalid CR leaves an existing directory as it was', async () => {
    const out = path.join(tmp, 'out');
    mkdirSync(out);
    writeFileSync(path.join(out, SHARED_FILE), 'before');
    await synthFiles([inputs(...good, agent({ replicas: -1 }, 'zz-broken'))], out, config);
    expect([contents(out), entries()]).toEqual([{ [SHARED_FILE]: 'before' }, ['out', path.join('out', SHARED_FILE)]]);
  });

  test('derived names that collide, found after earlier files were written, leave no file', async () => {
    const result = await synthFiles([inputs(...colliding)], path.join(tmp, 'out'), config);
    expect([[...new Set(result.errors.map((e) => e.object))], entries()]).toEqual([['Agent/foo-bar'], []]);
  });

  test('a file that cannot take its place fails the synth, and leaves no staging directory', async () => {
    const out = path.join(tmp, 'out');
    mkdirSync(path.join(out, 'ai.agent.research.yaml'), { recursive: true }); // a directory where a file goes
    await expect(synthFiles([inputs(...good)], out, config)).rejects.toThrow();
    expect(entries()).toEqual(['out', path.join('out', 'ai.agent.research.yaml')]);
  });
});

describe('an output path that is no directory', () => {
  test('fails the synth, but only after the CRs rendered: a bad CR is reported first', async () => {
    const out = path.join(tmp, 'out');
    writeFileSync(out, 'a file');
    await expect(synthFiles([inputs(...good)], out, config)).rejects.toThrow(/EEXIST|ENOTDIR/);
    const bad = await synthFiles([inputs(agent({ replicas: -1 }))], out, config);
    expect(bad.errors.map((e) => e.path)).toEqual(['spec.replicas']);
  });

  test('a link to nothing fails the synth and stays a link', async () => {
    const out = path.join(tmp, 'out');
    symlinkSync(path.join(tmp, 'nowhere'), out);
    await expect(synthFiles([inputs(...good)], out, config)).rejects.toThrow(/ENOENT/);
    expect([lstatSync(out).isSymbolicLink(), entries()]).toEqual([true, ['out']]);
  });
});

describe('an interrupted synth', () => {
  test('Ctrl-C while files are being written removes them, and the synth ends by the signal', async () => {
    const crs = Array.from({ length: 1000 }, (_, i) => agent({}, `a${String(i).padStart(4, '0')}`));
    const out = path.join(tmp, 'out');
    // One process (tsx's own command would stand between the signal and the synth).
    const child = spawn(process.execPath, ['--import', 'tsx', 'controller/cli.ts', 'synth', '-f', inputs(...crs), '-o', out], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    const staged = () => readdirSync(tmp).filter((f) => f.startsWith('.out.synth-')).some((d) => readdirSync(path.join(tmp, d)).length > 0);
    while (!staged()) await new Promise((resolve) => setTimeout(resolve, 2));
    child.kill('SIGINT');
    expect([await exited, entries()]).toEqual(['SIGINT', []]);
  }, 60_000);
});
