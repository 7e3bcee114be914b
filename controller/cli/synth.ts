/** The I/O half of `agentway synth`: read CR files, write one manifest file per CR. */
import { randomBytes } from 'node:crypto';
import { Stats, readFileSync, renameSync, rmdirSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { YAMLException, loadAll } from 'js-yaml';
import { RenderConfig } from '../../manifests/config.js';
import { SourceDocument, SynthError, SynthResult, synthesize, synthesizeFiles } from '../../manifests/synth.js';

const YAML_FILE = /\.ya?ml$/;

/**
 * Most values one document may hold once its aliases are expanded. YAML aliases let a file of a kilobyte
 * describe billions of values (each `*alias` repeats a whole subtree); the parser shares the subtree, but
 * validation and rendering would walk every copy. A CR has a few hundred values.
 */
export const MAX_EXPANDED_VALUES = 100_000;

/**
 * The number of values `doc` holds with every alias expanded, counted without expanding anything (each
 * shared subtree is sized once); `Infinity` past `budget` or when the document contains itself.
 */
export function expandedSize(doc: unknown, budget = MAX_EXPANDED_VALUES): number {
  const sizes = new Map<object, number>();
  const open = new Set<object>();
  const size = (v: unknown): number => {
    if (v === null || typeof v !== 'object') return 1;
    const known = sizes.get(v);
    if (known !== undefined) return known;
    if (open.has(v)) return Infinity;
    open.add(v);
    let total = 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      total += size(child);
      if (total > budget) break;
    }
    open.delete(v);
    const capped = total > budget ? Infinity : total;
    sizes.set(v, capped);
    return capped;
  };
  try {
    return size(doc);
  } catch (err) {
    if (err instanceof RangeError) return Infinity; // nested deeper than the stack
    throw err;
  }
}

/** `-` as an input reads CR documents from standard input; as the output, writes one YAML stream to stdout. */
export const STANDARD_STREAM = '-';
/** How standard input is named in errors and warnings. */
const STDIN_SOURCE = '<stdin>';

/** Every YAML file named, or found below a named directory, in a stable order; `-` stays as it is. */
export async function yamlFiles(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    if (input === STANDARD_STREAM) { out.push(input); continue; }
    const info = await stat(input);
    if (!info.isDirectory()) { out.push(input); continue; }
    const entries = await readdir(input, { recursive: true, withFileTypes: true });
    out.push(...entries.filter((d) => d.isFile() && YAML_FILE.test(d.name)).map((d) => path.join(d.parentPath, d.name)).sort());
  }
  return out;
}

/**
 * Reads the files and parses each; a YAML syntax error becomes a SynthError. Documents and errors come in the
 * order of `files`. Reads are synchronous: for a thousand small files in the page cache, a read costs a fifth
 * of what an asynchronous one costs the thread, and nothing else runs meanwhile.
 */
export function readDocuments(files: readonly string[], stdin = ''): { docs: SourceDocument[]; errors: SynthError[] } {
  const parsed = files.map((file) => (file === STANDARD_STREAM ? parseFile(STDIN_SOURCE, stdin) : parseFile(file, readFileSync(file, 'utf8'))));
  return { docs: parsed.flatMap((p) => p.docs), errors: parsed.flatMap((p) => p.errors) };
}

/** The documents of `inputs` (files, directories, `-` for standard input), as `readDocuments` gives them. */
async function readInputs(inputs: readonly string[]): Promise<{ docs: SourceDocument[]; errors: SynthError[] }> {
  const files = await yamlFiles(inputs);
  return readDocuments(files, files.includes(STANDARD_STREAM) ? await readStandardInput() : '');
}

/** All of standard input, read as a stream: a synchronous read fails on a pipe its writer made non-blocking. */
async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function parseFile(file: string, text: string): { docs: SourceDocument[]; errors: SynthError[] } {
  let list: unknown[];
  try {
    list = loadAll(text);
  } catch (err) {
    const e = err as YAMLException;
    const where = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
    return { docs: [], errors: [{ source: file, object: '?', path: '(yaml)', message: `${e.reason ?? e.message}${where}` }] };
  }
  const docs: SourceDocument[] = [];
  const errors: SynthError[] = [];
  list.forEach((doc, i) => {
    const source = list.length > 1 ? `${file}#${i + 1}` : file;
    if (expandedSize(doc) === Infinity) {
      errors.push({
        source, object: '?', path: '(yaml)',
        message: `the document holds more than ${MAX_EXPANDED_VALUES} values once its aliases are expanded, or contains itself; refused`,
      });
      return;
    }
    docs.push({ source, doc });
  });
  return { docs, errors };
}

/**
 * Reads `inputs`, renders them and, when nothing failed, writes the manifests into `outdir`: a directory that
 * exists keeps its other files, one that does not is created. Nothing is written when a CR fails.
 */
export async function synthFiles(inputs: readonly string[], outdir: string, config: RenderConfig): Promise<SynthResult> {
  const { docs, errors } = await readInputs(inputs);
  if (errors.length > 0) return { files: new Map(), errors, skipped: [], warnings: [] };
  // Ctrl-C (or a kill) during the synth is held until the staging directory is gone or in place, so that
  // an interrupted synth leaves nothing behind; then the process dies of it as it would have.
  const signals = holdSignals();
  try {
    const staging = await openStaging(outdir);
    if (!staging) {
      signals.release();
      return await synthThenWrite(docs, outdir, config);
    }
    // Files are written, into the staging directory, while the next CRs render: creating a thousand files
    // costs about as much as rendering them. They move into place only once no CR has failed.
    const writes = new BackgroundWrites(staging.dir);
    try {
      signals.check();
      const files = new Map<string, string>();
      const synthesis = synthesizeFiles(docs, config);
      let step = synthesis.next();
      for (; !step.done; step = synthesis.next()) {
        files.set(step.value.name, step.value.text);
        writes.add(step.value.name, step.value.text);
        await writes.turn();
        signals.check();
      }
      const outcome = step.value;
      await writes.finished();
      signals.check();
      if (outcome.errors.length > 0) {
        await staging.discard();
        return { ...outcome, files: new Map() };
      }
      await staging.commit([...files.keys()]);
      return { ...outcome, files };
    } catch (err) {
      await writes.abandon();
      await staging.discard();
      throw err;
    }
  } finally {
    signals.release();
  }
}

/**
 * Reads `inputs`, renders them and, when nothing failed, writes every manifest file's documents to `out` as
 * one YAML stream (`agentway synth -o - | kubectl apply --server-side -f -`), the files in the order a synth
 * into a directory creates them. Nothing is written when a CR fails.
 */
export async function synthStream(inputs: readonly string[], config: RenderConfig, out: NodeJS.WritableStream): Promise<SynthResult> {
  const { docs, errors } = await readInputs(inputs);
  if (errors.length > 0) return { files: new Map(), errors, skipped: [], warnings: [] };
  const result = synthesize(docs, config);
  if (result.errors.length > 0) return result;
  const stream = [...result.files.values()].filter((text) => text !== '').join('---\n');
  await new Promise<void>((resolve, reject) => out.write(stream, (err) => (err ? reject(err) : resolve())));
  return result;
}

/**
 * Renders everything, then writes, by the same writer thread: for an output directory no staging directory
 * can be made next to.
 */
async function synthThenWrite(docs: readonly SourceDocument[], outdir: string, config: RenderConfig): Promise<SynthResult> {
  const result = synthesize(docs, config);
  if (result.errors.length > 0) return result;
  await mkdir(outdir, { recursive: true });
  const writes = new BackgroundWrites(outdir);
  try {
    for (const [name, text] of result.files) writes.add(name, text);
    await writes.finished();
  } catch (err) {
    await writes.abandon();
    throw err;
  }
  return result;
}

/** Where a synth writes before anything is known to have failed, and how its files move into place. */
interface Staging {
  readonly dir: string;
  /** Moves the files named into the output directory (created if need be) and removes the staging directory. */
  commit(names: readonly string[]): Promise<void>;
  /** Removes the staging directory, and the directories made for it, with whatever was written. */
  discard(): Promise<void>;
}

/**
 * A staging directory beside `outdir`, on the same file system, so that its files move into place by rename.
 * When `outdir` does not exist yet, the staging directory itself becomes it. Undefined when none can be
 * made (`outdir` is a file or a link to nothing, sits on another file system than its parent, or the parent
 * is not writable):
 * then the synth renders everything first and writes after, and reports what goes wrong as before.
 */
async function openStaging(outdir: string): Promise<Staging | undefined> {
  const target = path.resolve(outdir);
  const parent = path.dirname(target);
  if (parent === target) return undefined;
  let existing: Stats | undefined;
  try {
    existing = await stat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    // A symbolic link to nothing: renaming the staging directory over it would replace the link.
    if (await lstat(target).then(() => true, () => false)) return undefined;
  }
  if (existing && !existing.isDirectory()) return undefined;
  let madeParents: string | undefined;
  let dir: string;
  try {
    madeParents = await mkdir(parent, { recursive: true });
    if (existing && (await stat(parent)).dev !== existing.dev) return undefined;
    dir = path.join(parent, `.${path.basename(target)}.synth-${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
  } catch {
    await removeMadeParents(parent, madeParents);
    return undefined;
  }
  const moveFilesInto = (names: readonly string[]) => {
    for (const name of names) renameSync(path.join(dir, name), path.join(target, name));
    rmdirSync(dir);
  };
  return {
    dir,
    async commit(names) {
      try {
        if (existing) return moveFilesInto(names);
        await rename(dir, target);
      } catch (err) {
        // Made meanwhile by someone else: fill it as an existing directory.
        if (existing || !['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
        moveFilesInto(names);
      }
    },
    async discard() {
      await rm(dir, { recursive: true, force: true });
      await removeMadeParents(parent, madeParents);
    },
  };
}

/** Removes `dir` and its ancestors up to `first`, the first directory `mkdir -p` made, if they are empty. */
async function removeMadeParents(dir: string, first: string | undefined): Promise<void> {
  if (first === undefined) return;
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === first || path.dirname(d) === d) return;
  }
}

const HELD_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A signal that arrived while held. */
class Interrupted extends Error {
  public constructor(public readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Holds SIGINT, SIGTERM and SIGHUP: `check()` throws Interrupted once one has arrived, `release()` restores
 * their default action and, if one arrived, ends the process with it.
 */
function holdSignals(): { check(): void; release(): void } {
  let caught: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => { caught ??= signal; };
  for (const s of HELD_SIGNALS) process.on(s, hold);
  return {
    check() {
      if (caught) throw new Interrupted(caught);
    },
    release() {
      for (const s of HELD_SIGNALS) process.off(s, hold);
      if (caught) process.kill(process.pid, caught);
    },
  };
}

/**
 * What the writing thread runs: each message is a list of files (name and text), written in the order sent
 * until one fails; `null` asks for the outcome, after which the thread ends.
 */
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
let failure;
parentPort.on('message', (m) => {
  if (m === null) {
    parentPort.postMessage({ failure });
    parentPort.close();
  } else {
    for (const [name, text] of m) {
      if (failure) return;
      try {
        writeFileSync(join(workerData.dir, name), text);
      } catch (err) {
        failure = { message: err.message, code: err.code };
      }
    }
  }
});
`;

/**
 * Files written into one directory by a thread of their own while the caller goes on with its work. On two
 * cores, one thread creating files beside the rendering one is what the file system can take: the writes
 * cost the render thread nothing but a message each.
 */
class BackgroundWrites {
  private readonly worker: Worker;
  private failure: Error | undefined;
  private batch: [string, string][] = [];
  private added = 0;

  public constructor(dir: string) {
    this.worker = new Worker(WRITER, { eval: true, workerData: { dir } });
    this.worker.on('error', (err) => { this.failure ??= err; });
  }

  /**
   * Queues a file. Files go to the thread 32 at a time: a message costs the sending thread a third of a
   * millisecond whatever it holds, as much as rendering a CR.
   */
  public add(name: string, text: string): void {
    this.batch.push([name, text]);
    if (++this.added % 32 === 0) this.send();
  }

  /** Lets signals and a failed thread be heard now and then; throws if the thread failed. */
  public async turn(): Promise<void> {
    if (this.added % 32 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure;
  }

  private send(): void {
    if (this.batch.length > 0) this.worker.postMessage(this.batch);
    this.batch = [];
  }

  /** Waits until every file sent is written; throws the first failure. */
  public async finished(): Promise<void> {
    const outcome = new Promise<{ failure?: { message: string; code?: string } }>((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
      this.worker.once('exit', () => reject(this.failure ?? new Error('the file writing thread ended early')));
    });
    this.send();
    this.worker.postMessage(null);
    const { failure } = await outcome;
    if (failure) throw Object.assign(new Error(failure.message), { code: failure.code });
    if (this.failure) throw this.failure;
  }

  /** Stops the thread: once this resolves, nothing more is written. */
  public async abandon(): Promise<void> {
    await this.worker.terminate();
  }
}
