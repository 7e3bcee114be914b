/**
 * The hand-written read-side types (manifests/api.ts) agree with the types cdk8s generates from our CRDs
 * (imports/): test/types/api-agrees-with-imports.ts states it for the compiler, and this test compiles that
 * file, once as it is and once against an api.ts with one field changed, so that a mismatch fails the tests
 * as well as `npm run lint`. Whether a field is optional is checked against the CRD schema: a field the
 * schema requires or defaults is always present in a CR read back, so its read-side type requires it.
 */
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import ts from 'typescript';
import type * as Api from '../../manifests/api.js';
import { Schema, modelAccessSchema, modelRouteSchema, openApiSchema } from '../../manifests/crds.js';

const ROOT = path.resolve('.');
const ASSERTIONS = path.join(ROOT, 'test/types/api-agrees-with-imports.ts');
const API = path.join(ROOT, 'manifests/api.ts');

/** Errors of compiling the assertion file, with manifests/api.ts's text changed by `edit`. */
function compileErrors(edit: (api: string) => string = (api) => api): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const options = { ...config!.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) => path.resolve(file) === API
    ? ts.createSourceFile(file, edit(ts.sys.readFile(API)!), lang)
    : getSourceFile(file, lang, ...rest);
  const program = ts.createProgram([ASSERTIONS], options, host);
  // Each error as `file: the line it is on`.
  return ts.getPreEmitDiagnostics(program).map((d) => {
    if (!d.file || d.start === undefined) return `: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${path.relative(ROOT, d.file.fileName)}: ${d.file.text.split('\n')[line].trim()}`;
  });
}

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
/** The keys of `o`; the compiler checks they are exactly the required keys of `T`. */
const requiredOf = <T>() => <O extends Record<RequiredKeys<T>, 1>>(o: O & Record<Exclude<keyof O, RequiredKeys<T>>, never>) => Object.keys(o);

/** Spec fields a CR always has once read: those its type requires. */
const REQUIRED: Record<string, { schema: Schema; required: string[] }> = {
  Agent: { schema: openApiSchema('Agent'), required: requiredOf<Api.AgentSpec>()({ image: 1, port: 1, replicas: 1, capacity: 1, gatewayRoute: 1 }) },
  ModelAPI: { schema: openApiSchema('ModelAPI'), required: requiredOf<Api.ModelAPISpec>()({ port: 1, replicas: 1, capacity: 1, gatewayRoute: 1 }) },
  MCPServer: { schema: openApiSchema('MCPServer'), required: requiredOf<Api.MCPServerSpec>()({ image: 1, port: 1, replicas: 1, capacity: 1, gatewayRoute: 1 }) },
  ClientPool: {
    schema: openApiSchema('ClientPool'),
    required: requiredOf<Api.ClientPoolSpec>()({ template: 1, apiKeys: 1, idleTimeout: 1, maxInstancesPerClient: 1, maxInstances: 1, gatewayRoute: 1 }),
  },
  ClientInstance: { schema: openApiSchema('ClientInstance'), required: requiredOf<Api.ClientInstanceSpec>()({ pool: 1, client: 1, instance: 1 }) },
  ModelRoute: { schema: modelRouteSchema(), required: requiredOf<Api.ModelRouteSpec>()({ model: 1, strategy: 1, targets: 1 }) },
  ModelAccess: { schema: modelAccessSchema(), required: requiredOf<Api.ModelAccessSpec>()({ apiKeys: 1, dataClass: 1 }) },
};

const specOf = (schema: Schema): Schema => (schema as { properties: { spec: Schema } }).properties.spec;
const field = (schema: Schema, ...names: string[]): Schema =>
  names.reduce((s, n) => (n === '[]' ? (s as { items: Schema }).items : (s as { properties: Record<string, Schema> }).properties[n]), schema);
const agentSpec = () => specOf(openApiSchema('Agent'));
const modelApiSpec = () => specOf(openApiSchema('ModelAPI'));

/** The same, for the objects inside a spec. */
const NESTED: Record<string, { at: () => Schema; required: string[] }> = {
  Pool: { at: () => field(agentSpec(), 'pools', '[]'), required: requiredOf<Api.Pool>()({ name: 1, replicas: 1 }) },
  Resources: { at: () => field(agentSpec(), 'resources'), required: requiredOf<Api.Resources>()({ gpuResource: 1 }) },
  Toleration: { at: () => field(agentSpec(), 'tolerations', '[]'), required: requiredOf<Api.Toleration>()({}) },
  EnvVar: { at: () => field(agentSpec(), 'env', '[]'), required: requiredOf<Api.EnvVar>()({ name: 1 }) },
  Capacity: { at: () => field(agentSpec(), 'capacity'), required: requiredOf<Api.Capacity>()({ source: 1, path: 1, metric: 1, intervalSeconds: 1 }) },
  GatewayRoute: { at: () => field(agentSpec(), 'gatewayRoute'), required: requiredOf<Api.GatewayRoute>()({ enabled: 1 }) },
  ModelProvider: { at: () => field(modelApiSpec(), 'provider'), required: requiredOf<Api.ModelProvider>()({ type: 1, url: 1 }) },
  ModelBackend: { at: () => field(modelApiSpec(), 'backend'), required: requiredOf<Api.ModelBackend>()({ selector: 1, port: 1 }) },
  Pricing: { at: () => field(modelApiSpec(), 'pricing'), required: requiredOf<Api.Pricing>()({}) },
  ModelRouteTarget: { at: () => field(specOf(modelRouteSchema()), 'targets', '[]'), required: requiredOf<Api.ModelRouteTarget>()({}) },
};

/** Fields of an object schema that a CR read back always has: required ones and defaulted ones. */
function alwaysPresent(schema: Schema): string[] {
  const s = schema as { required?: string[]; properties: Record<string, { default?: unknown }> };
  return Object.keys(s.properties).filter((k) => s.required?.includes(k) || s.properties[k].default !== undefined).sort();
}

describe('hand-written API types', () => {
  test('agree with the generated ones', () => {
    expect(compileErrors()).toEqual([]);
  }, 60_000);

  test('a field whose type differs from the generated one fails to compile', () => {
    const portIsString = (api: string) => {
      const edited = api.replace(/(interface WorkloadSpec \{[^}]*?readonly port): number;/, '$1: string;');
      expect(edited).not.toBe(api);
      return edited;
    };
    // WorkloadSpec is part of four kinds' specs; each of their lines fails, and only those.
    expect(compileErrors(portIsString)).toEqual([
      'test/types/api-agrees-with-imports.ts: Expect<Agree<Api.AgentSpec, Gen.AgentSpec>>,',
      'test/types/api-agrees-with-imports.ts: Expect<Agree<Api.ModelAPISpec, Gen.ModelApiSpec>>,',
      'test/types/api-agrees-with-imports.ts: Expect<Agree<Api.MCPServerSpec, Gen.McpServerSpec>>,',
      'test/types/api-agrees-with-imports.ts: Expect<Agree<Api.ClientPoolSpec, Gen.ClientPoolSpec>>,',
    ]);
  }, 60_000);

  test.each(Object.entries(REQUIRED))('%s spec: a field is required exactly when the schema requires or defaults it', (_kind, { schema, required }) => {
    expect([...required].sort()).toEqual(alwaysPresent(specOf(schema)));
  });

  test.each(Object.entries(NESTED))('%s: a field is required exactly when the schema requires or defaults it', (_name, { at, required }) => {
    expect([...required].sort()).toEqual(alwaysPresent(at()));
  });
});
