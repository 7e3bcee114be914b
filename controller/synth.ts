/** The I/O half of `agentway synth`: read CR files, write one manifest file per CR. */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { RenderConfig } from '../manifests/config.js';
import { SourceDocument, SynthError, SynthResult, synthesize } from '../manifests/synth.js';

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

/** Parses the files; a YAML syntax error becomes a SynthError rather than an exception. */
export async function readDocuments(files: readonly string[]): Promise<{ docs: SourceDocument[]; errors: SynthError[] }> {
  const docs: SourceDocument[] = [];
  const errors: SynthError[] = [];
  for (const file of files) {
    const parsed = parseAllDocuments(await readFile(file, 'utf8'));
    const list = Array.isArray(parsed) ? parsed : [parsed];
    list.forEach((d, i) => {
      const source = list.length > 1 ? `${file}#${i + 1}` : file;
      if (d.errors.length > 0) {
        errors.push({ source, object: '?', path: '(yaml)', message: d.errors[0].message.split('\n')[0] });
      } else {
        docs.push({ source, doc: d.toJS() });
      }
    });
  }
  return { docs, errors };
}

/** Reads `inputs`, renders them and, when nothing failed, writes the manifests into `outdir`. */
export async function synthFiles(inputs: readonly string[], outdir: string, config: RenderConfig): Promise<SynthResult> {
  const { docs, errors } = await readDocuments(await yamlFiles(inputs));
  if (errors.length > 0) return { files: new Map(), errors, skipped: [] };
  const result = synthesize(docs, config);
  if (result.errors.length > 0) return result;
  await mkdir(outdir, { recursive: true });
  for (const [name, text] of result.files) await writeFile(path.join(outdir, name), text);
  return result;
}
