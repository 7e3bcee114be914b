/** The I/O half of `agentway synth`: read CR files, write one manifest file per CR. */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { YAMLException, loadAll } from 'js-yaml';
import { RenderConfig } from '../../manifests/config.js';
import { SourceDocument, SynthError, SynthResult, synthesize } from '../../manifests/synth.js';

const YAML_FILE = /\.ya?ml$/;

/** Every YAML file named, or found below a named directory, in a stable order. */
export async function yamlFiles(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const info = await stat(input);
    if (!info.isDirectory()) { out.push(input); continue; }
    const entries = await readdir(input, { recursive: true, withFileTypes: true });
    out.push(...entries.filter((d) => d.isFile() && YAML_FILE.test(d.name)).map((d) => path.join(d.parentPath, d.name)).sort());
  }
  return out;
}

/** Reads the files (several at a time) and parses them; a YAML syntax error becomes a SynthError. */
export async function readDocuments(files: readonly string[]): Promise<{ docs: SourceDocument[]; errors: SynthError[] }> {
  const texts = await mapLimit(files, 32, (file) => readFile(file, 'utf8'));
  const docs: SourceDocument[] = [];
  const errors: SynthError[] = [];
  files.forEach((file, f) => {
    let list: unknown[];
    try {
      list = loadAll(texts[f]);
    } catch (err) {
      const e = err as YAMLException;
      const where = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
      errors.push({ source: file, object: '?', path: '(yaml)', message: `${e.reason ?? e.message}${where}` });
      return;
    }
    list.forEach((doc, i) => docs.push({ source: list.length > 1 ? `${file}#${i + 1}` : file, doc }));
  });
  return { docs, errors };
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads `inputs`, renders them and, when nothing failed, writes the manifests into `outdir`. */
export async function synthFiles(inputs: readonly string[], outdir: string, config: RenderConfig): Promise<SynthResult> {
  const { docs, errors } = await readDocuments(await yamlFiles(inputs));
  if (errors.length > 0) return { files: new Map(), errors, skipped: [] };
  const result = synthesize(docs, config);
  if (result.errors.length > 0) return result;
  await mkdir(outdir, { recursive: true });
  await mapLimit([...result.files], 32, ([name, text]) => writeFile(path.join(outdir, name), text));
  return result;
}
