/** Endpoints of backends agentway does not run: selector matching and Service port → slice port by name. */
import { matchesSelector, sliceAddresses } from '../../controller/kube/endpoints.js';

test('label selectors: matchLabels and every operator', () => {
  const labels = { 'llm-d.ai/role': 'decode', tier: 'gpu' };
  expect(matchesSelector(labels, { matchLabels: { 'llm-d.ai/role': 'decode' } })).toBe(true);
  expect(matchesSelector(labels, { matchLabels: { 'llm-d.ai/role': 'prefill' } })).toBe(false);
  expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gpu', 'tpu'] }] })).toBe(true);
  expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gpu'] }] })).toBe(false);
  expect(matchesSelector(labels, { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] })).toBe(true);
  expect(matchesSelector(labels, { matchExpressions: [{ key: 'zone', operator: 'Exists' }] })).toBe(false);
  expect(matchesSelector(undefined, {})).toBe(true);
});

const service = {
  metadata: { name: 'decode', namespace: 'ai' },
  spec: { ports: [{ name: 'metrics', port: 9090 }, { name: 'http', port: 80 }] },
};
const slice = (name: string, ports: object[], endpoints: object[], svc = 'decode', ns = 'ai') => ({
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } }, addressType: 'IPv4', ports, endpoints,
});

test('the Service port maps to each slice port of the same name; only ready endpoints', () => {
  const slices = [
    slice('decode-a', [{ name: 'http', port: 8000 }, { name: 'metrics', port: 9100 }], [
      { addresses: ['10.0.0.1'], conditions: { ready: true } },
      { addresses: ['10.0.0.2'], conditions: { ready: false } },
      { addresses: ['10.0.0.3'], conditions: {} },
    ]),
    slice('decode-b', [{ name: 'http', port: 8001 }], [{ addresses: ['10.0.0.4'] }]),
    slice('other', [{ name: 'http', port: 7000 }], [{ addresses: ['10.0.0.9'] }], 'other'),
    slice('elsewhere', [{ name: 'http', port: 7000 }], [{ addresses: ['10.0.0.8'] }], 'decode', 'prod'),
  ];
  expect(sliceAddresses(service, slices, 80)).toEqual(['10.0.0.1:8000', '10.0.0.3:8000', '10.0.0.4:8001']);
  expect(sliceAddresses(service, slices, 9090)).toEqual(['10.0.0.1:9100', '10.0.0.3:9100']);
  expect(sliceAddresses(service, slices, 443)).toEqual([]);
});

test('an unnamed Service port matches the unnamed slice port', () => {
  const svc = { metadata: { name: 'decode', namespace: 'ai' }, spec: { ports: [{ port: 80 }] } };
  expect(sliceAddresses(svc, [slice('s', [{ port: 8000 }], [{ addresses: ['10.0.0.1'] }])], 80)).toEqual(['10.0.0.1:8000']);
});
