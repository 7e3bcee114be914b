/** ModelAPI's routing fields and the ModelRoute kind: schema, validation, render and synth. */
import { crdObjects } from '../../manifests/crds.js';
import { render } from '../../manifests/render.js';
import { synthesize } from '../../manifests/synth.js';
import { validateModelRoute, validateResource } from '../../manifests/validate.js';
import { modelApi, resource, testEnv } from './fixtures.js';

const backend = { selector: { matchLabels: { 'llm-d.ai/role': 'decode' } }, port: 8000 };
const external = (spec: Record<string, unknown> = {}) => resource('ModelAPI', 'decode', { models: ['llama'], ownedBy: 'vllm', backend, ...spec });
const modelRoute = (spec: Record<string, unknown>) => ({ apiVersion: 'agentway.dev/v1alpha1', kind: 'ModelRoute', metadata: { name: 'llama', namespace: 'ai' }, spec });

test('a ModelAPI with backend needs no image and renders no Deployment or Service', () => {
  const result = render(external(), testEnv);
  expect(result.errors).toEqual([]);
  expect(result.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Service')).toEqual([]);
  expect(result.pools).toEqual([]);
});

test('a ModelAPI without backend still needs an image', () => {
  const { errors } = validateResource(resource('ModelAPI', 'llama', { models: ['llama'] }));
  expect(errors).toEqual([{ path: 'spec.image', message: 'is required unless spec.backend or spec.provider is set' }]);
});

test('workload fields next to backend are reported at their paths', () => {
  const { errors } = validateResource(external({ image: 'vllm/vllm-openai:v0.6.3', pools: [{ name: 'a' }] }));
  expect(errors.map((e) => e.path)).toEqual(['spec.image', 'spec.pools']);
});

test('backend needs a selector and a port in range; models are unique', () => {
  expect(validateResource(external({ backend: { port: 0 } })).errors.map((e) => e.path).sort()).toEqual(['spec.backend.port', 'spec.backend.selector']);
  expect(validateResource(modelApi({ models: ['a', 'a'] })).errors).toEqual([{ path: 'spec.models[1]', message: 'duplicate model "a" (also at spec.models[0])' }]);
});

test('a ModelRoute gets strategy capacity by default', () => {
  const { resource: route, errors } = validateModelRoute(modelRoute({ model: 'llama', targets: [{ modelAPI: 'decode' }] }));
  expect(errors).toEqual([]);
  expect(route?.spec.strategy).toBe('capacity');
});

test('each ModelRoute target names exactly one ModelAPI or Service', () => {
  const { errors } = validateModelRoute(modelRoute({
    model: 'llama', targets: [{ modelAPI: 'a', service: { name: 'b', port: 80 } }, {}, { service: { name: 'b', port: 80 } }],
  }));
  expect(errors.map((e) => e.path)).toEqual(['spec.targets[0]', 'spec.targets[1]']);
});

test('ModelRoute schema errors name their fields', () => {
  const { errors } = validateModelRoute(modelRoute({ model: 'llama', strategy: 'fastest', targets: [] }));
  expect(errors.map((e) => e.path).sort()).toEqual(['spec.strategy', 'spec.targets']);
});

test('the ModelRoute CRD is among ours, with Model, Engine and Strategy columns', () => {
  const crd = crdObjects().find((c) => c.spec.names.kind === 'ModelRoute')!;
  expect(crd.metadata.name).toBe('modelroutes.agentway.dev');
  expect(crd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(['Model', 'Engine', 'Strategy', 'Targets', 'Age']);
  const modelApiCrd = crdObjects().find((c) => c.spec.names.kind === 'ModelAPI')!;
  expect(modelApiCrd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name)).toContain('Models');
  expect(modelApiCrd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.discoveredModels.items.required).toEqual(['id']);
});

test('synth writes a ModelRoute out checked and defaulted, and reports its errors like any CR', () => {
  const ok = synthesize([{ source: 'r.yaml', doc: modelRoute({ model: 'llama', targets: [{ modelAPI: 'decode' }] }) }], testEnv.config);
  expect(ok.errors).toEqual([]);
  expect(ok.files.get('ai.modelroute.llama.yaml')).toContain('strategy: capacity');
  const bad = synthesize([{ source: 'r.yaml', doc: modelRoute({ model: 'llama', targets: [{}] }) }], testEnv.config);
  expect(bad.errors.map((e) => [e.object, e.path])).toEqual([['ModelRoute/llama', 'spec.targets[0]']]);
});
