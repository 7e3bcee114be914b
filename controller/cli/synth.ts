/** The I/O half of `agentway synth`: read CR files, write one manifest file per CR. */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { YAMLException, loadAll } from 'js-yaml';
import { RenderConfig } from '../../manifests/config.js';
import { SourceDocument, SynthError, SynthResult, synthesize } from '../../manifests/synth.js';

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
  if (errors.length > 0) return { files: new Map(), errors, skipped: [], warnings: [] };
  const result = synthesize(docs, config);
  if (result.errors.length > 0) return result;
  await mkdir(outdir, { recursive: true });
  await mapLimit([...result.files], 32, ([name, text]) => writeFile(path.join(outdir, name), text));
  return result;
}
