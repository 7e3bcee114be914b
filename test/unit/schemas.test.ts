/**
 * Every object rendered for examples/ (and a few more CRs) is valid for the API server that will receive it:
 * HTTPRoute, Gateway and ReferenceGrant against the Gateway API v1.3.0 CRD schemas, including their CEL rules;
 * Deployment and Service (and our own CRDs) against the Kubernetes 1.27 schemas of kubernetes-models; names
 * and labels against the Kubernetes name rules.
 */
import { isCelError, run } from '@bufbuild/cel';
import { Ajv, ValidateFunction } from 'ajv';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Service } from 'kubernetes-models/v1/Service';
import { KubeObject } from '../../manifests/api.js';
import { crdObjectsOf, findGatewayApiCrds } from '../../scripts/gateway-api-crds.js';
import { renderConfig } from '../../manifests/config.js';
import { crdObjects } from '../../manifests/crds.js';
import { render } from '../../manifests/render.js';
import { synthesize } from '../../manifests/synth.js';
import {
  CR, GPU_AND_CPU_POOLS, Json, agent, clientInstance, clientPool, env, exampleDocuments, modelApi, objectsInYaml, routeIn,
} from './fixtures.js';

// ---------------------------------------------------------------------------------------------------------
// Gateway API CRD schemas, found by scripts/gateway-api-crds.ts ($GATEWAY_API_CRDS, ../shared, cache, download).

type Schema = Record<string, Json>;

/** `apiVersion/kind` → the openAPIV3Schema of that served version. */
async function gatewayApiSchemas(): Promise<Map<string, Schema>> {
  const schemas = new Map<string, Schema>();
  for (const crd of crdObjectsOf(await findGatewayApiCrds())) {
    for (const version of crd.spec.versions.filter((v: Json) => v.served)) {
      schemas.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, version.schema.openAPIV3Schema);
    }
  }
  return schemas;
}

/**
 * The schema as the API server applies it with strict field validation: a field the schema does not name is
 * an error, not silently pruned.
 */
function strict(schema: Schema): Schema {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const out: Schema = Object.fromEntries(Object.entries(schema).map(([k, v]) => {
    if (k === 'properties') return [k, Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strict(s as Schema)]))];
    if (k === 'items' || k === 'additionalProperties' || k === 'not') return [k, strict(v as Schema)];
    if (k === 'anyOf' || k === 'allOf' || k === 'oneOf') return [k, (v as Schema[]).map(strict)];
    return [k, v];
  }));
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}

function newAjv(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, useDefaults });
  const int = (bits: number) => ({ type: 'number' as const, validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** (bits - 1) });
  ajv.addFormat('int32', int(32));
  ajv.addFormat('int64', int(64));
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  ajv.addFormat('ipv4', /^(\d{1,3}\.){3}\d{1,3}$/);
  ajv.addFormat('ipv6', /^[0-9a-fA-F:.]+$/);
  return ajv;
}

const SCHEMAS = await gatewayApiSchemas();
const validators = new Map<string, ValidateFunction>();
const defaulters = new Map<string, ValidateFunction>();

function schemaKey(o: KubeObject): string {
  return `${o.apiVersion}/${o.kind}`;
}

function cached(cache: Map<string, ValidateFunction>, key: string, build: () => ValidateFunction): ValidateFunction {
  if (!cache.has(key)) cache.set(key, build());
  return cache.get(key)!;
}

/** Schema errors of a Gateway API object, as `path: message` lines; empty when it is valid. */
function gatewayApiErrors(o: KubeObject): string[] {
  const schema = SCHEMAS.get(schemaKey(o));
  if (!schema) return [`no served Gateway API schema for ${schemaKey(o)}`];
  const validate = cached(validators, schemaKey(o), () => newAjv(false).compile(strict(schema)));
  return validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : ''}`);
}

/** The object with the CRD defaults applied, as the API server stores it before evaluating CEL rules. */
function withDefaults(o: KubeObject): Json {
  const copy = structuredClone(o);
  cached(defaulters, schemaKey(o), () => newAjv(true).compile(SCHEMAS.get(schemaKey(o))!))(copy);
  return copy;
}

// ---------------------------------------------------------------------------------------------------------
// CEL: the rules under `x-kubernetes-validations`, evaluated on every node of the object they apply to.

const CEL_KEYWORDS = new Set([
  'true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import',
  'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while',
]);

/** A property name as Kubernetes exposes it to CEL (`namespace` → `__namespace__`, `a-b` → `a__dash__b`). */
function celName(name: string): string {
  if (CEL_KEYWORDS.has(name)) return `__${name}__`;
  return name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
}

/** JSON → CEL input, typed by the schema: integers become CEL ints (bigint), property names are escaped. */
function celValue(schema: Schema | undefined, data: Json): Json {
  if (Array.isArray(data)) return data.map((d) => celValue(schema?.items, d));
  if (typeof data === 'number') return schema?.type === 'number' ? data : BigInt(data);
  if (data && typeof data === 'object') {
    if (schema?.properties) {
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [celName(k), celValue(schema.properties[k], v)]));
    }
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, celValue(schema?.additionalProperties, v)]));
  }
  return data;
}

interface RuleOutcome {
  readonly path: string;
  readonly rule: string;
  /** `true`, `false` or the evaluation error. */
  readonly result: true | false | string;
}

/** Evaluates every CEL rule whose node exists in `data` (transition rules, which need oldSelf, excepted). */
function evaluateRules(schema: Schema, data: Json, at = ''): RuleOutcome[] {
  const own = (schema['x-kubernetes-validations'] ?? [])
    .filter((v: Json) => !/\boldSelf\b/.test(v.rule))
    .map((v: Json): RuleOutcome => {
      const r = run(v.rule, { self: celValue(schema, data) });
      return { path: at, rule: v.rule, result: isCelError(r) ? `error: ${r.message}` : r === true };
    });
  const children: RuleOutcome[] = [];
  if (Array.isArray(data) && schema.items) {
    data.forEach((d, i) => children.push(...evaluateRules(schema.items, d, `${at}[${i}]`)));
  } else if (data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) {
      const child = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (child) children.push(...evaluateRules(child, v, at ? `${at}.${k}` : k));
    }
  }
  return [...own, ...children];
}

/** CEL rules of the object's CRD that do not hold (false or failing to evaluate), with the rule text. */
function celViolations(o: KubeObject): RuleOutcome[] {
  return evaluateRules(SCHEMAS.get(schemaKey(o))!, withDefaults(o)).filter((r) => r.result !== true);
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes core objects and names.

function kubernetesErrors(o: KubeObject): string[] {
  try {
    if (o.kind === 'Deployment') new Deployment(o as Json).validate();
    else if (o.kind === 'Service') new Service(o as Json).validate();
    else if (o.kind === 'Role') new Role(o as Json).validate();
    else if (o.kind === 'RoleBinding') new RoleBinding(o as Json).validate();
    else if (o.kind === 'CustomResourceDefinition') new CustomResourceDefinition(o as Json).validate();
    else return [`no Kubernetes schema for ${o.kind}`];
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Problems with metadata.name, namespace and labels, by the API server's rules for the object's kind. */
function metadataErrors(o: KubeObject): string[] {
  const { name, namespace, labels = {} } = o.metadata;
  const errors: string[] = [];
  // Services need DNS-1035 labels; HTTPRoute, Gateway, ReferenceGrant and Deployment names are subdomains,
  // but agentway keeps them all to 63 characters because they double as label values.
  const nameRule = o.kind === 'Service' ? DNS_1035_LABEL : DNS_1123_SUBDOMAIN;
  if (!nameRule.test(name) || name.length > 63) errors.push(`metadata.name "${name}"`);
  if (!namespace || !DNS_1123_LABEL.test(namespace)) errors.push(`metadata.namespace "${namespace}"`);
  for (const [key, value] of Object.entries(labels)) {
    const [prefix, label] = key.includes('/') ? key.split('/') : [undefined, key];
    if ((prefix !== undefined && (!DNS_1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) || !LABEL_NAME.test(label) || label.length > 63) {
      errors.push(`label key "${key}"`);
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value) || value.length > 63) errors.push(`label ${key} value "${value}"`);
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------------------
// The objects under test: everything synthesized from examples/, plus CRs that reach other code paths.

const EXTRA_CRS: CR[] = [
  agent({ gatewayRoute: { hostnames: ['ai.example.com', '*.agents.example.com'], timeout: '0s' }, tolerations: [{ key: 'k', operator: 'Exists' }] }, 'plain'),
  modelApi({
    pools: [...GPU_AND_CPU_POOLS, { name: 'mi300', replicas: 1, resources: { gpu: 8, gpuResource: 'amd.com/gpu' } }],
    nodeSelector: { 'kubernetes.io/arch': 'amd64' },
    gatewayRoute: { timeout: '1h30m' },
  }, 'mixed'),
  modelApi({ replicas: 0, resources: { gpu: 2, cpu: 4, memory: '32Gi' } }, 'scaled-to-zero'),
  clientPool({}, 'sandbox', 'team-b'),
];

function allObjects(): KubeObject[] {
  const { files, errors } = synthesize(exampleDocuments(), renderConfig());
  if (errors.length > 0) throw new Error(`examples do not synthesize: ${JSON.stringify(errors)}`);
  const fromExamples = [...files.values()].flatMap(objectsInYaml);
  const extra = EXTRA_CRS.flatMap((cr) => render(cr, env()).objects);
  const instance = render(clientInstance(), env({}, { clientPool: clientPool() as never })).objects;
  return [...fromExamples, ...extra, ...instance];
}

const OBJECTS = allObjects();
const label = (o: KubeObject) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
const table = (kinds: string[]) => OBJECTS.filter((o) => kinds.includes(o.kind)).map((o) => [label(o), o] as const);

describe('the objects under test', () => {
  test('cover every kind agentway renders', () => {
    expect([...new Set(OBJECTS.map((o) => o.kind))].sort()).toEqual(['Deployment', 'Gateway', 'HTTPRoute', 'ModelRoute', 'ReferenceGrant', 'Role', 'RoleBinding', 'Service']);
  });
});

describe('Gateway API v1.3.0 schemas', () => {
  test.each(table(['HTTPRoute', 'Gateway', 'ReferenceGrant']))('%s is valid', (_, o) => {
    expect(gatewayApiErrors(o)).toEqual([]);
  });

  test('a backendRef port above 65535 is refused (the schema check can fail)', () => {
    const route: Json = structuredClone(routeIn(render(agent(), env()).objects));
    route.spec.rules[0].backendRefs[0].port = 70000;
    expect(gatewayApiErrors(route)).toEqual(['/spec/rules/0/backendRefs/0/port: must be <= 65535']);
  });

  test('a field the schema does not name is refused', () => {
    const route: Json = structuredClone(routeIn(render(agent(), env()).objects));
    route.spec.rules[0].backendRefs[0].weights = 1;
    expect(gatewayApiErrors(route)).toEqual(['/spec/rules/0/backendRefs/0: must NOT have additional properties (weights)']);
  });

  test('a timeout that is not a Gateway API duration is refused', () => {
    const route: Json = structuredClone(routeIn(render(agent(), env()).objects));
    route.spec.rules[0].timeouts.request = '2 minutes';
    expect(gatewayApiErrors(route)).toHaveLength(1);
  });
});

describe('Gateway API v1.3.0 CEL rules', () => {
  test.each(table(['HTTPRoute', 'Gateway']))('%s satisfies every rule', (_, o) => {
    expect(celViolations(o)).toEqual([]);
  });

  test('the rules on rules, matches, filters, backendRefs, timeouts and parentRefs are all evaluated', () => {
    const route = routeIn(render(modelApi({ pools: GPU_AND_CPU_POOLS }), env()).objects);
    const paths = new Set(evaluateRules(SCHEMAS.get(schemaKey(route))!, withDefaults(route)).map((r) => r.path));
    expect([...paths].filter((p) => p.startsWith('spec.parentRefs') || /^spec\.rules(\[0\](\.(matches\[0\]\.path|filters(\[0\](\.urlRewrite\.path)?)?|backendRefs\[0\]|timeouts))?)?$/.test(p)).sort()).toEqual([
      'spec.parentRefs',
      'spec.rules',
      'spec.rules[0]',
      'spec.rules[0].backendRefs[0]',
      'spec.rules[0].filters',
      'spec.rules[0].filters[0]',
      'spec.rules[0].filters[0].urlRewrite.path',
      'spec.rules[0].matches[0].path',
      'spec.rules[0].timeouts',
    ]);
  });

  // The rules must be able to fail, or the test above proves nothing.
  const mutated = (change: (route: Json) => void): Json => {
    const route: Json = structuredClone(routeIn(render(agent(), env()).objects));
    change(route);
    return route;
  };

  test('a path prefix with "//" breaks the path rule', () => {
    const route = mutated((r) => { r.spec.rules[0].matches[0].path.value = '/ai//agent'; });
    expect(celViolations(route).map((v) => v.path)).toEqual(['spec.rules[0].matches[0].path']);
  });

  test('a URLRewrite filter without urlRewrite breaks the filter rule', () => {
    const route = mutated((r) => { delete r.spec.rules[0].filters[0].urlRewrite; });
    expect(celViolations(route).map((v) => v.path)).toEqual(['spec.rules[0].filters[0]']);
  });

  test('ReplacePrefixMatch with an Exact match breaks the rule-level rule', () => {
    const route = mutated((r) => { r.spec.rules[0].matches[0].path.type = 'Exact'; });
    expect(celViolations(route).map((v) => v.path)).toEqual(['spec.rules[0]']);
  });

  test('a backendRequest timeout longer than the request timeout breaks the timeouts rule', () => {
    const route = mutated((r) => { r.spec.rules[0].timeouts.backendRequest = '500s'; });
    expect(celViolations(route).map((v) => v.path)).toEqual(['spec.rules[0].timeouts']);
  });

  test('two identical parentRefs break the parentRefs rule', () => {
    const route = mutated((r) => { r.spec.parentRefs.push({ ...r.spec.parentRefs[0] }); });
    expect(celViolations(route).map((v) => v.path)).toEqual(['spec.parentRefs']);
  });
});

describe('Kubernetes 1.27 schemas (kubernetes-models)', () => {
  test.each(table(['Deployment', 'Service', 'Role', 'RoleBinding']))('%s is valid', (_, o) => {
    expect(kubernetesErrors(o)).toEqual([]);
  });

  test('a Deployment with replicas as a string is refused (the schema check can fail)', () => {
    const d: Json = structuredClone(OBJECTS.find((o) => o.kind === 'Deployment')!);
    d.spec.replicas = '2';
    expect(kubernetesErrors(d)).toHaveLength(1);
  });

  test.each(table(['Deployment']))('%s has every resource quantity as a string', (_, o: Json) => {
    const resources = o.spec.template.spec.containers.map((c: Json) => c.resources ?? {});
    const quantities = resources.flatMap((r: Json) => [...Object.values(r.requests ?? {}), ...Object.values(r.limits ?? {})]);
    expect(quantities.filter((q: unknown) => typeof q !== 'string')).toEqual([]);
  });

  test.each(table(['Service']))('%s has a protocol on every port', (_, o: Json) => {
    expect(o.spec.ports.filter((p: Json) => p.protocol !== 'TCP')).toEqual([]);
  });
});

describe('our CustomResourceDefinitions', () => {
  test.each(crdObjects().map((crd) => [crd.metadata.name, crd] as const))('%s is a valid apiextensions.k8s.io/v1 CRD', (_, crd) => {
    expect(kubernetesErrors(crd as KubeObject)).toEqual([]);
  });

  test('a CRD without its group is refused (the check can fail)', () => {
    const crd: Json = structuredClone(crdObjects()[0]);
    delete crd.spec.group;
    expect(kubernetesErrors(crd)).toHaveLength(1);
  });
});

describe('names and labels', () => {
  test.each(OBJECTS.map((o) => [label(o), o] as const))('%s has a valid name, namespace and labels', (_, o) => {
    expect(metadataErrors(o)).toEqual([]);
  });

  test('an upper-case label value would be caught', () => {
    expect(metadataErrors({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'b', labels: { 'x/y': 'not ok!' } } })).toEqual(['label x/y value "not ok!"']);
  });
});
