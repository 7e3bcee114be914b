/**
 * CR builders and output lookups for the render unit tests. A fixture is the smallest valid CR of its kind;
 * a test passes only the fields it is about. CRs are plain objects, as read from YAML, because render takes
 * unknown input and validates it itself.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KubeObject } from '../../manifests/api.js';
import { ConfigOverrides, RenderEnv, renderConfig } from '../../manifests/config.js';
import { SourceDocument } from '../../manifests/synth.js';

export const NAMESPACE = 'ai';
export const IMAGE = 'ghcr.io/acme/agent:1.2';

/** A CR as a user writes it. */
export type CR = {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; [key: string]: unknown };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
};

/** Rendered objects are read through `any`: each test asserts on the exact fields it is about. */
export type Json = any;

export function env(overrides: ConfigOverrides = {}, extra: Omit<RenderEnv, 'config'> = {}): RenderEnv {
  return { config: renderConfig(overrides), ...extra };
}

/** The default configuration: Gateway `agentway-system/agentway-gateway`, timeouts from DESIGN §1. */
export const testEnv: RenderEnv = env();

export function resource(kind: string, name: string, spec: Record<string, unknown>, namespace = NAMESPACE): CR {
  return { apiVersion: 'agentway.dev/v1alpha1', kind, metadata: { name, namespace }, spec };
}

/** `cr` as written without `metadata.namespace`. */
export function withoutNamespace(cr: CR): CR {
  const { namespace: _, ...metadata } = cr.metadata;
  return { ...cr, metadata };
}

export function agent(spec: Record<string, unknown> = {}, name = 'research', namespace?: string): CR {
  return resource('Agent', name, { image: IMAGE, ...spec }, namespace);
}

export function modelApi(spec: Record<string, unknown> = {}, name = 'llama', namespace?: string): CR {
  return resource('ModelAPI', name, { image: 'vllm/vllm-openai:v0.6.3', ...spec }, namespace);
}

export function mcpServer(spec: Record<string, unknown> = {}, name = 'search', namespace?: string): CR {
  return resource('MCPServer', name, { image: 'ghcr.io/acme/mcp-search:0.4', ...spec }, namespace);
}

export function clientPool(spec: Record<string, unknown> = {}, name = 'sandbox', namespace?: string): CR {
  return resource('ClientPool', name, {
    template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 },
    apiKeys: { secretRef: { name: 'sandbox-api-keys' } },
    ...spec,
  }, namespace);
}

export function clientInstance(spec: Record<string, unknown> = {}, name = 'sandbox-acme-one', namespace?: string): CR {
  return resource('ClientInstance', name, { pool: 'sandbox', client: 'acme', instance: 'one', ...spec }, namespace);
}

/** Two pools, one with an accelerator and one without, as in examples/modelapi.yaml. */
export const GPU_AND_CPU_POOLS = [
  { name: 'a100', replicas: 2, resources: { gpu: 1, cpu: '8', memory: '64Gi' } },
  { name: 'cpu', replicas: 3, resources: { cpu: '4', memory: '16Gi' } },
];

export function ofKind(objects: readonly KubeObject[], kind: string): Json[] {
  return objects.filter((o) => o.kind === kind);
}

/** The one object of `kind` (named `name`, when given); fails the test when there is not exactly one. */
export function one(objects: readonly KubeObject[], kind: string, name?: string): Json {
  const found = ofKind(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  return found[0];
}

export const deploymentIn = (objects: readonly KubeObject[], name?: string): Json => one(objects, 'Deployment', name);
export const serviceIn = (objects: readonly KubeObject[], name?: string): Json => one(objects, 'Service', name);
export const routeIn = (objects: readonly KubeObject[], name?: string): Json => one(objects, 'HTTPRoute', name);

/** The single container of a rendered Deployment. */
export function containerOf(deployment: Json): Json {
  const containers = deployment.spec.template.spec.containers;
  if (containers.length !== 1) throw new Error(`expected one container, found ${containers.length}`);
  return containers[0];
}

/** `{name: value}` of a container's literal environment variables. */
export function envOf(deployment: Json): Record<string, string | undefined> {
  return Object.fromEntries((containerOf(deployment).env ?? []).map((e: Json) => [e.name, e.value]));
}

/** `service name → weight` of one route rule. */
export function weightsOf(rule: Json): Record<string, number> {
  return Object.fromEntries(rule.backendRefs.map((b: Json) => [b.name, b.weight]));
}

/** The documents of examples/*.yaml, as `agentway synth -f examples` reads them. */
export function exampleDocuments(): SourceDocument[] {
  const dir = path.resolve(process.cwd(), 'examples');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) => {
    const source = `examples/${f}`;
    return parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d, i, all) => ({
      source: all.length > 1 ? `${source}#${i + 1}` : source,
      doc: d.toJS(),
    }));
  });
}

/** Source documents for synthesize, named `crs.yaml#1`, `crs.yaml#2`, … */
export function sources(...docs: unknown[]): SourceDocument[] {
  return docs.map((doc, i) => ({ source: `crs.yaml#${i + 1}`, doc }));
}

/** The objects of a synthesized YAML file. */
export function objectsInYaml(text: string): Json[] {
  return parseAllDocuments(text).map((d) => d.toJS());
}

/**
 * backendRefs with the group the API server defaults: an absent group and `""` both mean the core group, so
 * a test compares what the server will store rather than how render spells it.
 */
export function backendRefsOf(rule: Json): Json[] {
  return rule.backendRefs.map(({ group = '', ...ref }: Json) => ({ group, ...ref }));
}
