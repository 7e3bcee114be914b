/**
 * chartObjects: a chart's objects as `chart.toJson()` gives them, in the same order, with or without the
 * dependencies and validations that make it take `toJson` itself.
 */
import { App, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from '../../imports/k8s.js';
import { chartObjects } from '../../manifests/render.js';
import { Route } from '../../manifests/route.js';
import { WorkloadPool } from '../../manifests/workload.js';

/** Two identical charts, built by `build` in Apps of their own: one for each way of reading the objects. */
function twice(build: (chart: Chart) => void): [Chart, Chart] {
  return [0, 1].map(() => {
    const chart = new Chart(new App({ outdir: 'unused', recordConstructMetadata: false }), 'c');
    build(chart);
    return chart;
  }) as [Chart, Chart];
}

function pool(scope: Construct, id: string, name: string): WorkloadPool {
  return new WorkloadPool(scope, id, {
    namespace: 'ai', name, labels: { b: '2', a: '1' }, selector: { a: '1' }, containerName: 'c', image: 'x:1', port: 8000, replicas: 2,
    resources: { cpu: '1', memory: '1Gi', gpu: 1, gpuResource: 'nvidia.com/gpu' }, healthPath: '/health',
  });
}

function route(scope: Construct, id: string): Route {
  return new Route(scope, id, {
    namespace: 'ai', name: 'r', labels: {}, gateway: { name: 'g', namespace: 'gw' }, pathPrefix: '/ai/agent/r', timeout: '30s',
    backends: [{ service: 'p1', port: 8000, weight: 60, gpu: true }, { service: 'p2', port: 8000, weight: 40 }],
  });
}

test('a chart of pools and a route: the same objects in the same order', () => {
  const [a, b] = twice((chart) => { pool(chart, 'one', 'p1'); pool(chart, 'two', 'p2'); route(chart, 'route'); });
  const objects = chartObjects(a);
  expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/p1', 'Service/p1', 'Deployment/p2', 'Service/p2', 'HTTPRoute/r']);
  expect(JSON.stringify(objects)).toBe(JSON.stringify(b.toJson()));
});

test('objects that depend on others come after them, as toJson orders them', () => {
  const [a, b] = twice((chart) => {
    const r = route(chart, 'route');
    const p = pool(chart, 'one', 'p1');
    r.node.addDependency(p);
  });
  const objects = chartObjects(a);
  expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'HTTPRoute']);
  expect(JSON.stringify(objects)).toBe(JSON.stringify(b.toJson()));
});

test('a construct that fails its validation fails as toJson fails', () => {
  const [a, b] = twice((chart) => {
    new k8s.KubeConfigMap(chart, 'cm', { metadata: { name: 'cm' } });
    chart.node.addValidation({ validate: () => ['not today'] });
  });
  expect(() => b.toJson()).toThrow(/not today/);
  expect(() => chartObjects(a)).toThrow(/not today/);
});
