/** Per-request endpoint choice: capacity net of in-flight, GPU only when asked, degrade, none ready. */
import { ChoiceInput, Endpoint, TargetEndpoints, chooseEndpoint } from '../../controller/router/select.js';

const ep = (address: string, capacity: number, gpu = false, backend = 'ai/a'): Endpoint => ({ address, backend, gpu, capacity });
const target = (endpoints: Endpoint[], extra: Partial<TargetEndpoints> = {}): TargetEndpoints => ({ backend: 'ai/a', weight: 1, priority: 0, endpoints, ...extra });
const input = (targets: TargetEndpoints[], extra: Partial<ChoiceInput> = {}): ChoiceInput => ({
  strategy: 'capacity', targets, gpuOnly: false, inFlight: () => 0, rotation: 0, random: 0, ...extra,
});

test('the endpoint with the most free capacity wins', () => {
  const c = chooseEndpoint(input([target([ep('a:1', 1), ep('b:1', 3), ep('c:1', 2)])]));
  expect(c).toEqual({ endpoint: ep('b:1', 3), degraded: false });
});

test('in-flight requests count against capacity', () => {
  const inFlight = (a: string) => (a === 'b:1' ? 2 : 0);
  expect(chooseEndpoint(input([target([ep('a:1', 2), ep('b:1', 3)])], { inFlight }))?.endpoint.address).toBe('a:1');
});

test('equal endpoints are taken in turn', () => {
  const targets = [target([ep('a:1', 1), ep('b:1', 1)])];
  const picks = [0, 1, 2, 3].map((rotation) => chooseEndpoint(input(targets, { rotation }))?.endpoint.address);
  expect(picks).toEqual(['a:1', 'b:1', 'a:1', 'b:1']);
});

test('capacity exhausted but endpoints ready: least in-flight, marked degraded', () => {
  const inFlight = (a: string) => (a === 'a:1' ? 5 : 1);
  const c = chooseEndpoint(input([target([ep('a:1', 0), ep('b:1', 0)])], { inFlight }));
  expect(c).toEqual({ endpoint: ep('b:1', 0), degraded: true });
});

test('never degraded while any endpoint has capacity', () => {
  const c = chooseEndpoint(input([target([ep('a:1', 0), ep('b:1', 0)]), target([ep('c:1', 1, false, 'ai/b')], { backend: 'ai/b' })]));
  expect(c).toEqual({ endpoint: ep('c:1', 1, false, 'ai/b'), degraded: false });
});

test('nothing ready: no choice', () => {
  expect(chooseEndpoint(input([target([])]))).toBeUndefined();
  expect(chooseEndpoint(input([]))).toBeUndefined();
});

test('the GPU header never lands on a CPU endpoint, even with more capacity', () => {
  const targets = [target([ep('cpu:1', 10), ep('gpu:1', 1, true)])];
  expect(chooseEndpoint(input(targets, { gpuOnly: true }))?.endpoint.address).toBe('gpu:1');
  expect(chooseEndpoint(input([target([ep('cpu:1', 10)])], { gpuOnly: true }))).toBeUndefined();
});

test('priority: the lowest priority with a ready endpoint serves', () => {
  const targets = [
    target([], { backend: 'first', priority: 0 }),
    target([ep('b:1', 1, false, 'second')], { backend: 'second', priority: 1 }),
    target([ep('c:1', 9, false, 'third')], { backend: 'third', priority: 2 }),
  ];
  expect(chooseEndpoint(input(targets, { strategy: 'priority' }))?.endpoint.backend).toBe('second');
});

test('weighted: the draw picks a target by weight', () => {
  const targets = [target([ep('a:1', 1)], { weight: 1 }), target([ep('b:1', 1, false, 'ai/b')], { backend: 'ai/b', weight: 3 })];
  expect(chooseEndpoint(input(targets, { strategy: 'weighted', random: 0.2 }))?.endpoint.address).toBe('a:1');
  expect(chooseEndpoint(input(targets, { strategy: 'weighted', random: 0.3 }))?.endpoint.address).toBe('b:1');
});
