/**
 * Synthesis of many CRs into manifest files: the pure half of `agentway synth` (the CLI reads and writes
 * the files). Output is deterministic: CRs sorted by namespace, kind and name; one file per CR, plus one
 * for objects shared between CRs; byte-identical for the same input.
 */
import { ClientPool, GROUP, KubeObject } from './api.js';
import { RenderConfig } from './config.js';
import { RenderResult, modelAccessGrant, render, renderShared } from './render.js';
import { validateModelAccess, validateModelRoute } from './validate.js';
import { toYaml } from './yaml.js';

/** A document read from an input file. */
export interface SourceDocument {
  /** Where it came from, for messages: `examples/agent.yaml` or `examples/agent.yaml#2`. */
  readonly source: string;
  readonly doc: unknown;
}

export interface SynthError {
  readonly source: string;
  /** `Kind/name`, when the document has them. */
  readonly object: string;
  readonly path: string;
  readonly message: string;
}

export interface SynthResult {
  /** File name → YAML text; empty when there are errors. */
  readonly files: ReadonlyMap<string, string>;
  readonly errors: readonly SynthError[];
  /**
   * What renders but will not work as written, e.g. an Agent whose ModelAPI is not among the inputs (it
   * may exist in the cluster, so this is no error).
   */
  readonly warnings: readonly SynthError[];
  /** Documents of other API groups that were passed over. */
  readonly skipped: readonly string[];
}

export const SHARED_FILE = 'agentway-shared.yaml';

interface Entry { readonly source: string; readonly doc: Record<string, any>; readonly namespace: string; readonly key: string }

function isOurs(doc: unknown): doc is Record<string, any> {
  return !!doc && typeof doc === 'object' && typeof (doc as any).apiVersion === 'string' && (doc as any).apiVersion.split('/')[0] === GROUP;
}

function objectKey(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.kind}/${o.metadata.name}`;
}

function fileName(e: Entry): string {
  return `${e.namespace}.${String(e.doc.kind).toLowerCase()}.${e.doc.metadata.name}.yaml`;
}

/** A bounded piece of a document for messages: a string cut short, anything else "?". */
function part(value: unknown): string {
  return typeof value === 'string' ? (value.length > 64 ? `${value.slice(0, 64)}...` : value) : '?';
}

/** `Kind/name` of a document, for messages. */
function objectLabel(doc: Record<string, any>): string {
  return `${part(doc.kind)}/${part(doc.metadata?.name)}`;
}

/** References from Agents to ModelAPIs and MCPServers that are not among the inputs. */
function danglingReferences(entries: readonly Entry[]): SynthError[] {
  const present = new Set(entries.map((e) => `${e.namespace}/${e.doc.kind}/${e.doc.metadata?.name}`));
  const missing = (e: Entry, kind: string, name: unknown, path: string): SynthError[] => (
    typeof name !== 'string' || present.has(`${e.namespace}/${kind}/${name}`) ? [] : [{
      source: e.source, object: objectLabel(e.doc), path,
      message: `${kind} "${part(name)}" is not among the inputs in namespace "${part(e.namespace)}"; the Agent stays Ready=False until it exists`,
    }]);
  return entries.filter((e) => e.doc.kind === 'Agent').flatMap((e) => [
    ...missing(e, 'ModelAPI', e.doc.spec?.modelAPI, 'spec.modelAPI'),
    ...(Array.isArray(e.doc.spec?.mcpServers) ? e.doc.spec.mcpServers as unknown[] : [])
      .flatMap((name, i) => missing(e, 'MCPServer', name, `spec.mcpServers[${i}]`)),
  ]);
}

/** One output file: its name in the output directory and its YAML. */
export interface SynthFile {
  readonly name: string;
  readonly text: string;
}

/** What a synthesis reports besides its files. */
export type SynthOutcome = Omit<SynthResult, 'files'>;

/** Renders every agentway CR among `docs`; other documents are skipped. */
export function synthesize(docs: readonly SourceDocument[], config: RenderConfig): SynthResult {
  const files = new Map<string, string>();
  const synthesis = synthesizeFiles(docs, config);
  for (;;) {
    const step = synthesis.next();
    if (step.done) return { ...step.value, files: step.value.errors.length > 0 ? new Map() : files };
    files.set(step.value.name, step.value.text);
  }
}

/**
 * `synthesize`, one file at a time: each CR's file as soon as the CR is rendered, then the shared file; the
 * outcome comes last. A file yielded may still be followed by errors (a later CR that is invalid, or whose
 * objects collide with an earlier one's), so whoever writes files as they come must be able to take them
 * back until the outcome shows none; once an error is found, no further file is yielded.
 */
export function* synthesizeFiles(docs: readonly SourceDocument[], config: RenderConfig): Generator<SynthFile, SynthOutcome, void> {
  const errors: SynthError[] = [];
  const skipped: string[] = [];
  const entries: Entry[] = [];
  const seen = new Map<string, string>();
  for (const { source, doc } of docs) {
    if (doc === null || doc === undefined) continue;
    if (!isOurs(doc)) { skipped.push(source); continue; }
    const name = doc.metadata?.name;
    const namespace = doc.metadata?.namespace ?? 'default';
    const key = `${namespace}/${doc.kind}/${name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push({ source, object: objectLabel(doc), path: 'metadata.name', message: `duplicate of ${first}` });
      continue;
    }
    seen.set(key, source);
    entries.push({ source, doc, namespace, key });
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const pools = new Map(entries.filter((e) => e.doc.kind === 'ClientPool').map((e) => [`${e.namespace}/${e.doc.metadata.name}`, e.doc as ClientPool]));
  const shared = new Map<string, KubeObject>();
  const renderedBy = new Map<string, string>();
  for (const e of entries) {
    const clientPool = e.doc.kind === 'ClientInstance' ? pools.get(`${e.namespace}/${e.doc.spec?.pool}`) : undefined;
    const doc: Record<string, any> = { ...e.doc, metadata: { ...e.doc.metadata, namespace: e.namespace } };
    const result = doc.kind === 'ModelRoute' ? modelRouteResult(doc) : doc.kind === 'ModelAccess' ? modelAccessResult(doc, config) : render(doc, { config, clientPool });
    for (const err of result.errors) {
      errors.push({ source: e.source, object: objectLabel(e.doc), path: err.path, message: err.message });
    }
    // An object outside the CR's namespace (the route server's ReferenceGrant) may be rendered by several
    // CRs: it goes, once, into the shared file.
    const own = result.objects.filter((o) => o.metadata.namespace === e.namespace);
    for (const o of result.objects) if (o.metadata.namespace !== e.namespace) shared.set(objectKey(o), o);
    // Two CRs whose derived names collide would fight over one object: refuse, naming both.
    for (const o of own) {
      const k = objectKey(o);
      const holder = renderedBy.get(k);
      if (holder === undefined) { renderedBy.set(k, objectLabel(e.doc)); continue; }
      errors.push({
        source: e.source, object: objectLabel(e.doc), path: 'metadata.name',
        message: `renders ${o.kind} ${o.metadata.name}, which ${holder} renders too; rename one of them`,
      });
    }
    if (errors.length === 0) yield { name: fileName(e), text: toYaml(own) };
  }
  if (errors.length > 0) return { errors, skipped, warnings: [] };

  const sharedObjects = [...renderShared(config), ...[...shared.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, o]) => o)];
  if (sharedObjects.length > 0) yield { name: SHARED_FILE, text: toYaml(sharedObjects) };
  return { errors, skipped, warnings: danglingReferences(entries) };
}

/** A ModelRoute renders nothing: the router reads it as it is, so it is written out checked and defaulted. */
function modelRouteResult(doc: unknown): Pick<RenderResult, 'objects' | 'errors'> {
  const { resource, errors } = validateModelRoute(doc);
  return { objects: resource ? [resource] : [], errors };
}

/**
 * A ModelAccess is read by the router as it is; besides it, synth writes the Role and RoleBinding that let
 * the router read its key Secret, and nothing else.
 */
function modelAccessResult(doc: unknown, config: RenderConfig): Pick<RenderResult, 'objects' | 'errors'> {
  const { resource, errors } = validateModelAccess(doc);
  if (!resource) return { objects: [], errors };
  return { objects: [resource, ...modelAccessGrant(resource, config)], errors };
}

/** `file: Kind/name: field: reason`, the form every CLI error about a CR takes. */
export function formatSynthError(e: SynthError): string {
  return `${e.source}: ${e.object}: ${e.path || '(document)'}: ${e.message}`;
}

