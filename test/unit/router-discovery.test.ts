/** Discovered models: the servers' answers merged into one sorted list, one entry per model and engine. */
import { mergeDiscovered } from '../../controller/reconciler/discovery.js';

test('answers of several servers merge into one sorted list without duplicates', () => {
  expect(mergeDiscovered([
    [{ id: 'b', ownedBy: 'vllm' }, { id: 'a', ownedBy: 'vllm' }],
    [{ id: 'a', ownedBy: 'vllm' }, { id: 'a', ownedBy: 'sglang' }, { id: 'c' }],
  ])).toEqual([{ id: 'a', ownedBy: 'sglang' }, { id: 'a', ownedBy: 'vllm' }, { id: 'b', ownedBy: 'vllm' }, { id: 'c' }]);
});

test('no answers, no models', () => {
  expect(mergeDiscovered([])).toEqual([]);
});
