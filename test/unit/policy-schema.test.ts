/**
 * The schema of providers and policy (DESIGN §9): ModelAPI `provider`, `dataClass`, `pricing`, and the
 * ModelAccess kind — validation at field paths, what render and synth write for them.
 */
import { crdObjects } from '../../manifests/crds.js';
import { render } from '../../manifests/render.js';
import { synthesize } from '../../manifests/synth.js';
import { validateModelAccess, validateResource } from '../../manifests/validate.js';
import { resource, testEnv } from './fixtures.js';

const openai = { type: 'openai', url: 'https://api.openai.com/v1', model: 'gpt-4o-mini', credentialsSecretRef: { name: 'openai', key: 'apiKey' } };
const provider = (spec: Record<string, unknown> = {}) => resource('ModelAPI', 'gpt', { models: ['chat'], provider: openai, ...spec });
const access = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'agentway.dev/v1alpha1', kind: 'ModelAccess', metadata: { name: 'apps', namespace: 'ai' }, spec: { apiKeys: { secretRef: { name: 'app-keys' } }, ...spec },
});
const paths = (errors: readonly { path: string }[]) => errors.map((e) => e.path).sort();

describe('ModelAPI provider', () => {
  test('renders no workload and no route; only read access for the router to its credentials Secret', () => {
    const { objects, errors } = render(provider({ dataClass: 'internal', pricing: { inputPer1M: 0.15, outputPer1M: 0.6 } }), testEnv);
    expect(errors).toEqual([]);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Role/modelapi-gpt-credentials', 'RoleBinding/modelapi-gpt-credentials']);
    const role = objects.find((o) => o.kind === 'Role') as any;
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['openai'], verbs: ['get', 'list', 'watch'] }]);
    const binding = objects.find((o) => o.kind === 'RoleBinding') as any;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'agentway-router', namespace: testEnv.config.router.namespace }]);
  });

  test('Ollama needs no credential: nothing rendered at all', () => {
    const { objects, errors } = render(provider({ provider: { type: 'ollama', url: 'http://ollama.ai.svc:11434/v1' } }), testEnv);
    expect([errors, objects]).toEqual([[], []]);
  });

  test.each([
    ['a workload field', { image: 'vllm/vllm-openai:v0.6.3' }, ['spec.image']],
    ['backend and provider', { backend: { selector: { matchLabels: { a: 'b' } }, port: 80 } }, ['spec.provider']],
    ['no credential for openai', { provider: { type: 'openai', url: 'https://api.openai.com/v1' } }, ['spec.provider.credentialsSecretRef']],
    ['bedrock without region', { provider: { type: 'bedrock', url: 'https://bedrock-runtime.us-east-1.amazonaws.com', credentialsSecretRef: { name: 'aws', key: 'creds' } } }, ['spec.provider.region']],
    ['a URL that is not http(s)', { provider: { ...openai, url: 'ftp://api.openai.com' } }, ['spec.provider.url']],
    ['an unknown type', { provider: { ...openai, type: 'gemini' } }, ['spec.provider.type']],
    ['no models', { models: undefined }, ['spec.models']],
    ['an unknown data class', { dataClass: 'secret' }, ['spec.dataClass']],
    ['a negative price', { pricing: { inputPer1M: -1 } }, ['spec.pricing.inputPer1M']],
    ['an unknown pricing field', { pricing: { perRequest: 1 } }, ['spec.pricing.perRequest']],
  ])('%s is refused at its path', (_name, spec, want) => {
    expect(paths(validateResource(provider(spec)).errors)).toEqual(want);
  });

  test('the bad URL message says what is expected', () => {
    expect(validateResource(provider({ provider: { ...openai, url: 'api.openai.com' } })).errors).toEqual([{ path: 'spec.provider.url', message: 'must be an http or https URL, got "api.openai.com"' }]);
  });

  test('an in-cluster ModelAPI takes dataClass and pricing too', () => {
    expect(validateResource(resource('ModelAPI', 'vllm', { image: 'vllm/vllm-openai:v0.6.3', models: ['chat'], dataClass: 'restricted', pricing: { inputPer1M: 5 } })).errors).toEqual([]);
  });

  test('the ModelAPI CRD shows the provider type', () => {
    const crd = crdObjects().find((c) => c.spec.names.kind === 'ModelAPI')!;
    expect(crd.spec.versions[0].additionalPrinterColumns).toContainEqual({ name: 'Provider', type: 'string', jsonPath: '.spec.provider.type' });
  });
});

describe('ModelAccess', () => {
  test('dataClass defaults to internal; models and limits are optional', () => {
    const { resource: r, errors } = validateModelAccess(access());
    expect(errors).toEqual([]);
    expect(r?.spec.dataClass).toBe('internal');
  });

  test.each([
    ['no apiKeys', { apiKeys: undefined }, ['spec.apiKeys']],
    ['a zero limit', { limits: { requestsPerMinute: 0 } }, ['spec.limits.requestsPerMinute']],
    ['a fractional limit', { limits: { tokensPerMinute: 1.5 } }, ['spec.limits.tokensPerMinute']],
    ['an unknown class', { dataClass: 'top-secret' }, ['spec.dataClass']],
    ['a duplicate model', { models: ['a', 'a'] }, ['spec.models[1]']],
    ['an unknown field', { keys: {} }, ['spec.keys']],
  ])('%s is refused at its path', (_name, spec, want) => {
    expect(paths(validateModelAccess(access(spec)).errors)).toEqual(want);
  });

  test('the CRD has a status subresource with Ready, and printer columns for readiness, class, Secret and limits', () => {
    const crd = crdObjects().find((c) => c.spec.names.kind === 'ModelAccess')!;
    expect(crd.metadata.name).toBe('modelaccesses.agentway.dev');
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    expect(Object.keys(crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties)).toEqual(['observedGeneration', 'conditions']);
    expect(crd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(['Ready', 'Class', 'Keys', 'RPM', 'TPM', 'Models', 'Reason', 'Age']);
  });

  test('a ModelAccess read back with its status still validates', () => {
    const withStatus = { ...access({}), status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 2, lastTransitionTime: '2026-01-02T03:04:05Z' }] } };
    expect(validateModelAccess(withStatus).errors).toEqual([]);
  });

  test('synth writes the ModelAccess, defaulted, and the router\'s read access to its key Secret', () => {
    const { files, errors } = synthesize([{ source: 'access.yaml', doc: access({ limits: { tokensPerMinute: 1000 } }) }], testEnv.config);
    expect(errors).toEqual([]);
    const text = [...files.values()].join('\n');
    expect(text).toContain('kind: ModelAccess');
    expect(text).toContain('dataClass: internal');
    expect(text).toContain('name: modelaccess-apps-api-keys');
    expect(text).toMatch(/resourceNames:\n\s+- app-keys/);
  });

  test('synth reports a bad ModelAccess at its path', () => {
    const { errors } = synthesize([{ source: 'access.yaml', doc: access({ dataClass: 'x' }) }], testEnv.config);
    expect(errors.map((e) => e.path)).toEqual(['spec.dataClass']);
  });
});
