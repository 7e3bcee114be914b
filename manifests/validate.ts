/**
 * Validation of CRs: the CRD schema (through ajv, with the CRD's defaults applied exactly as the API
 * server applies them) plus the rules a schema cannot state. Every problem is collected and named by its
 * field path; nothing throws for user input.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import * as compiled from '../imports/agentway-validators.js';
import {
  ALL_KINDS, API_VERSION, AgentwayResource, FieldError, Kind, ModelAPI, ModelAccess, ModelProvider, ModelRoute, Pool, WorkloadSpec, isKind,
} from './api.js';
import { DNS_LABEL, DURATION, HTTP_URL, MAX_NAME, QUANTITY } from './crds.js';
import { poolObjectName } from './names.js';
import { ValidatedKind } from './validation-schemas.js';

export interface ValidationResult {
  /** The CR with defaults applied; present only when there are no errors. */
  readonly resource?: AgentwayResource;
  readonly errors: readonly FieldError[];
}

const FRIENDLY_PATTERNS: Record<string, string> = {
  [DURATION]: 'must be a duration such as "30s", "5m" or "1h30m"',
  [DNS_LABEL]: 'must be a DNS-1035 label: lower-case letters, digits and "-", starting with a letter',
  '^/': 'must start with "/"',
  [HTTP_URL]: 'must be an http or https URL',
  [QUANTITY]: 'must be a Kubernetes quantity such as "500m", "8" or "64Gi"',
};

/**
 * The validator of each kind, compiled ahead of time from manifests/validation-schemas.ts. Its type guard is
 * where a CR becomes its read-side type (manifests/api.ts); test/types/api-agrees-with-imports.ts proves that
 * type agrees with the one generated from the same schema.
 */
const validators = compiled as unknown as Record<ValidatedKind, ValidateFunction<unknown>>;
const resourceValidator = (kind: Kind) => validators[kind] as ValidateFunction<AgentwayResource>;
const modelRouteValidator = validators.ModelRoute as ValidateFunction<ModelRoute>;
const modelAccessValidator = validators.ModelAccess as ValidateFunction<ModelAccess>;

/** The value at an ajv instance path (a JSON pointer) of the validated object. */
function valueAt(root: unknown, instancePath: string): unknown {
  let value = root;
  for (const seg of instancePath.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

function fieldPath(instancePath: string): string {
  return instancePath.split('/').slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** Longest part of a user's string quoted back in a message. */
const MAX_SHOWN = 64;

/**
 * A user's value, quoted in a message: bounded whatever the input (a string is cut short, a list or an
 * object is only named), so that no input makes a message large or slow to build.
 */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= MAX_SHOWN ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, MAX_SHOWN))}... (${value.length} characters)`;
  }
  if (Array.isArray(value)) return `a list of ${value.length} item(s)`;
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

function fromAjv(e: ErrorObject, root: unknown): FieldError | undefined {
  const data = valueAt(root, e.instancePath);
  const path = fieldPath(e.instancePath);
  const p = e.params as Record<string, any>;
  const join = (child: string) => (path ? `${path}.${child}` : child);
  // The branches of an anyOf (int-or-string quantities) are summed up by the anyOf error itself.
  if (e.schemaPath.includes('/anyOf/')) return undefined;
  switch (e.keyword) {
    case 'required': return { path: join(p.missingProperty), message: 'is required' };
    case 'additionalProperties': return { path: join(p.additionalProperty), message: 'unknown field' };
    case 'anyOf': return { path, message: `must be a number or a string, got ${show(data)}` };
    case 'pattern': return { path, message: `${FRIENDLY_PATTERNS[p.pattern] ?? `must match ${p.pattern}`}, got ${show(data)}` };
    case 'enum': return { path, message: `must be one of ${(p.allowedValues as unknown[]).join(', ')}, got ${show(data)}` };
    case 'type': return { path, message: `must be of type ${p.type}, got ${show(data)}` };
    case 'minimum': case 'maximum': return { path, message: `must be ${p.comparison} ${p.limit}, got ${show(data)}` };
    case 'maxLength': return { path, message: `must be at most ${p.limit} characters, got ${String(data).length}` };
    case 'minLength': return { path, message: p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters` };
    case 'minItems': return { path, message: `must have at least ${p.limit} item(s)` };
    case 'maxItems': return { path, message: `must have at most ${p.limit} items` };
    default: return { path, message: e.message ?? e.keyword };
  }
}

function duplicates<T>(items: readonly T[], key: (t: T) => string, path: (i: number) => string, what: string): FieldError[] {
  const first = new Map<string, number>();
  return items.flatMap((item, i) => {
    const k = key(item);
    const j = first.get(k);
    if (j === undefined) { first.set(k, i); return []; }
    return [{ path: path(i), message: `duplicate ${what} ${show(k)} (also at ${path(j)})` }];
  });
}

function validatePools(kind: Kind, name: string, pools: readonly Pool[]): FieldError[] {
  const tooLong = pools.flatMap((p, i) => {
    const derived = poolObjectName(kind, name, p.name, true);
    return derived.length > MAX_NAME
      ? [{ path: `spec.pools[${i}].name`, message: `derived name "${derived}" is ${derived.length} characters, more than ${MAX_NAME}; shorten the pool or metadata.name` }]
      : [];
  });
  return [...duplicates(pools, (p) => p.name, (i) => `spec.pools[${i}].name`, 'pool name'), ...tooLong];
}

/**
 * A container image reference as the distribution spec writes it: an optional registry host (and port),
 * lower-case path components, an optional tag and an optional digest. Whitespace, control characters and
 * anything outside ASCII, which a schema's `minLength` lets through and a kubelet then fails to pull, are
 * refused here.
 */
const IMAGE_REFERENCE = new RegExp([
  '^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?',
  '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*',
  '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?',
  '(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$',
].join(''));

function validateImage(image: string | undefined, path: string): FieldError[] {
  if (image === undefined || (image.length <= 4096 && IMAGE_REFERENCE.test(image))) return [];
  return [{ path, message: `must be an image reference such as "ghcr.io/acme/agent:1.2" (no spaces or non-ASCII characters), got ${show(image)}` }];
}

const RESERVED_ENV: Partial<Record<Kind, readonly string[]>> = { Agent: ['MODEL_API_URL', 'MCP_SERVERS'] };

function validateEnv(kind: Kind, spec: Pick<WorkloadSpec, 'env'>, base: string): FieldError[] {
  const env = spec.env ?? [];
  const reserved = RESERVED_ENV[kind] ?? [];
  return [
    ...duplicates(env, (e) => e.name, (i) => `${base}.env[${i}].name`, 'variable'),
    ...env.flatMap((e, i) => [
      ...(e.value !== undefined && e.valueFrom !== undefined ? [{ path: `${base}.env[${i}]`, message: 'set value or valueFrom, not both' }] : []),
      ...(reserved.includes(e.name) ? [{ path: `${base}.env[${i}].name`, message: `${e.name} is set by agentway from the spec` }] : []),
    ]),
  ];
}

/**
 * A ModelAPI runs a workload (image required), names model servers it does not run (backend), or calls an
 * external provider (provider); exactly one of the three.
 */
function validateModelApi(cr: ModelAPI): FieldError[] {
  const s = cr.spec;
  const models = duplicates(s.models ?? [], (m) => m, (i) => `spec.models[${i}]`, 'model');
  if (s.backend && s.provider) return [{ path: 'spec.provider', message: 'set backend or provider, not both' }, ...models];
  if (!s.backend && !s.provider) return [...(s.image ? [] : [{ path: 'spec.image', message: 'is required unless spec.backend or spec.provider is set' }]), ...models];
  const field = s.backend ? 'backend' : 'provider';
  const unused = (['image', 'command', 'args', 'env', 'pools', 'health'] as const).filter((f) => s[f] !== undefined);
  return [
    ...unused.map((f) => ({ path: `spec.${f}`, message: `must not be set with spec.${field}: the ModelAPI runs no workload` })),
    ...(s.provider ? validateProvider(s.provider, s.models) : []),
    ...models,
  ];
}

function validateProvider(p: ModelProvider, models: readonly string[] | undefined): FieldError[] {
  return [
    ...(p.type !== 'ollama' && !p.credentialsSecretRef ? [{ path: 'spec.provider.credentialsSecretRef', message: `is required for provider type ${p.type}` }] : []),
    ...(p.type === 'bedrock' && !p.region ? [{ path: 'spec.provider.region', message: 'is required for provider type bedrock' }] : []),
    ...(!models || models.length === 0 ? [{ path: 'spec.models', message: 'must name the model ids clients ask this provider for' }] : []),
  ];
}

function semanticErrors(cr: AgentwayResource): FieldError[] {
  const name = cr.metadata.name;
  switch (cr.kind) {
    case 'ModelAPI':
      return [
        ...validateModelApi(cr), ...validateImage(cr.spec.image, 'spec.image'),
        ...validatePools(cr.kind, name, cr.spec.pools ?? []), ...validateEnv(cr.kind, cr.spec, 'spec'),
      ];
    case 'Agent': case 'MCPServer':
      return [...validateImage(cr.spec.image, 'spec.image'), ...validatePools(cr.kind, name, cr.spec.pools ?? []), ...validateEnv(cr.kind, cr.spec, 'spec')];
    case 'ClientPool': {
      const s = cr.spec;
      return [
        ...validateImage(s.template.image, 'spec.template.image'),
        ...validateEnv(cr.kind, s.template, 'spec.template'),
        ...(s.maxInstancesPerClient > s.maxInstances
          ? [{ path: 'spec.maxInstancesPerClient', message: `must not exceed spec.maxInstances (${s.maxInstances}), got ${s.maxInstancesPerClient}` }]
          : []),
      ];
    }
    case 'ClientInstance':
      return [];
  }
}

function schemaErrors(validate: ValidateFunction, root: unknown): FieldError[] {
  const seen = new Set<string>();
  return (validate.errors ?? []).flatMap((e) => {
    const fe = fromAjv(e, root);
    const key = fe && `${fe.path}\u0000${fe.message}`;
    if (!fe || seen.has(key!)) return [];
    seen.add(key!);
    return [fe];
  });
}

export interface ModelRouteValidation {
  /** The ModelRoute with defaults applied; present only when there are no errors. */
  readonly resource?: ModelRoute;
  readonly errors: readonly FieldError[];
}

/** Checks a ModelRoute (schema, then: each target names exactly one ModelAPI or Service). */
export function validateModelRoute(input: unknown): ModelRouteValidation {
  const raw = input as Record<string, any> | undefined;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { errors: [{ path: '', message: 'must be an object' }] };
  if (raw.apiVersion !== API_VERSION) return { errors: [{ path: 'apiVersion', message: `must be ${API_VERSION}, got ${show(raw.apiVersion)}` }] };
  if (raw.kind !== 'ModelRoute') return { errors: [{ path: 'kind', message: `must be ModelRoute, got ${show(raw.kind)}` }] };
  if (typeof raw.metadata?.name !== 'string' || raw.metadata.name === '') return { errors: [{ path: 'metadata.name', message: 'is required' }] };
  const cr = structuredClone(raw);
  const validate = modelRouteValidator;
  if (!validate(cr)) return { errors: schemaErrors(validate, cr) };
  const errors = cr.spec.targets.flatMap((t, i) => ((t.modelAPI === undefined) === (t.service === undefined)
    ? [{ path: `spec.targets[${i}]`, message: 'set exactly one of modelAPI and service' }] : []));
  return errors.length > 0 ? { errors } : { resource: cr, errors: [] };
}

export interface ModelAccessValidation {
  /** The ModelAccess with defaults applied; present only when there are no errors. */
  readonly resource?: ModelAccess;
  readonly errors: readonly FieldError[];
}

/** Checks a ModelAccess (schema, then: the allow-list names each model once). */
export function validateModelAccess(input: unknown): ModelAccessValidation {
  const raw = input as Record<string, any> | undefined;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { errors: [{ path: '', message: 'must be an object' }] };
  if (raw.apiVersion !== API_VERSION) return { errors: [{ path: 'apiVersion', message: `must be ${API_VERSION}, got ${show(raw.apiVersion)}` }] };
  if (raw.kind !== 'ModelAccess') return { errors: [{ path: 'kind', message: `must be ModelAccess, got ${show(raw.kind)}` }] };
  if (typeof raw.metadata?.name !== 'string' || raw.metadata.name === '') return { errors: [{ path: 'metadata.name', message: 'is required' }] };
  const cr = structuredClone(raw);
  const validate = modelAccessValidator;
  if (!validate(cr)) return { errors: schemaErrors(validate, cr) };
  const errors = duplicates(cr.spec.models ?? [], (m) => m, (i) => `spec.models[${i}]`, 'model');
  return errors.length > 0 ? { errors } : { resource: cr, errors: [] };
}

/**
 * Checks one CR as read from a file or from the API server and returns it with the CRD defaults applied.
 * The input is not modified.
 */
export function validateResource(input: unknown): ValidationResult {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    return { errors: [{ path: '', message: 'must be an object' }] };
  }
  const raw = input as Record<string, any>;
  if (raw.apiVersion !== API_VERSION) {
    return { errors: [{ path: 'apiVersion', message: `must be ${API_VERSION}, got ${show(raw.apiVersion)}` }] };
  }
  if (!isKind(raw.kind)) {
    return { errors: [{ path: 'kind', message: `unknown kind ${show(raw.kind)}; expected one of ${ALL_KINDS.join(', ')}` }] };
  }
  if (typeof raw.metadata?.name !== 'string' || raw.metadata.name === '') {
    return { errors: [{ path: 'metadata.name', message: 'is required' }] };
  }
  const cr = structuredClone(raw);
  const validate = resourceValidator(raw.kind);
  if (!validate(cr)) return { errors: schemaErrors(validate, cr) };
  const errors = semanticErrors(cr);
  return errors.length > 0 ? { errors } : { resource: cr, errors: [] };
}

