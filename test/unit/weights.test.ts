/**
 * Capacity-aware backend weights (DESIGN §4): computeWeights and the hysteresis of weightsChanged.
 */
import { HYSTERESIS_POINTS, PoolCapacity, computeWeights, weightsChanged } from '../../manifests/weights.js';

const pool = (name: string, ready: number, capacity: number): PoolCapacity => ({ name, ready, capacity });

describe('computeWeights with free capacity', () => {
  test('equal capacity splits 50/50', () => {
    expect(computeWeights([pool('a', 1, 4), pool('b', 2, 4)]).weights).toEqual({ a: 50, b: 50 });
  });

  test('weights follow capacity, not ready endpoints', () => {
    expect(computeWeights([pool('a', 1, 3), pool('b', 3, 1)]).weights).toEqual({ a: 75, b: 25 });
  });

  test('weights are rounded to whole points (1:2 → 33/67)', () => {
    expect(computeWeights([pool('a', 1, 1), pool('b', 1, 2)]).weights).toEqual({ a: 33, b: 67 });
  });

  test('a half point rounds up (1:7 → 13/88)', () => {
    expect(computeWeights([pool('a', 1, 1), pool('b', 1, 7)]).weights).toEqual({ a: 13, b: 88 });
  });

  test('three equal pools get 33 each', () => {
    expect(computeWeights([pool('a', 1, 1), pool('b', 1, 1), pool('c', 1, 1)]).weights).toEqual({ a: 33, b: 33, c: 33 });
  });

  test('a pool with a tiny share of the capacity still gets weight 1, not 0', () => {
    expect(computeWeights([pool('a', 1, 1), pool('b', 1, 999)]).weights).toEqual({ a: 1, b: 100 });
  });

  test('a ready pool without free capacity gets 0 while another has some', () => {
    expect(computeWeights([pool('a', 2, 0), pool('b', 1, 5)]).weights).toEqual({ a: 0, b: 100 });
  });

  test('a pool without ready endpoints gets 0, whatever capacity it reports', () => {
    expect(computeWeights([pool('a', 0, 50), pool('b', 1, 1)]).weights).toEqual({ a: 0, b: 100 });
  });

  test('negative capacity counts as none', () => {
    expect(computeWeights([pool('a', 1, -5), pool('b', 1, 5)]).weights).toEqual({ a: 0, b: 100 });
  });

  test('fractional capacity (memory in GB) is proportional too', () => {
    expect(computeWeights([pool('a', 1, 0.5), pool('b', 1, 1.5)]).weights).toEqual({ a: 25, b: 75 });
  });

  test('the state is Available', () => {
    expect(computeWeights([pool('a', 1, 1), pool('b', 0, 0)]).state).toBe('Available');
  });
});

describe('computeWeights with capacity exhausted', () => {
  test('weights follow ready endpoints when no pool has free capacity', () => {
    expect(computeWeights([pool('a', 1, 0), pool('b', 3, 0)]).weights).toEqual({ a: 25, b: 75 });
  });

  test('the state is CapacityExhausted', () => {
    expect(computeWeights([pool('a', 1, 0), pool('b', 3, 0)]).state).toBe('CapacityExhausted');
  });

  test('a pool without ready endpoints still gets 0', () => {
    expect(computeWeights([pool('a', 0, 0), pool('b', 2, 0)]).weights).toEqual({ a: 0, b: 100 });
  });

  test('capacity reported by a pool without ready endpoints does not count as free', () => {
    const result = computeWeights([pool('a', 0, 10), pool('b', 2, 0)]);
    expect([result.state, result.weights]).toEqual(['CapacityExhausted', { a: 0, b: 100 }]);
  });

  test('the max(1, …) floor applies to ready shares too', () => {
    expect(computeWeights([pool('a', 1, 0), pool('b', 999, 0)]).weights).toEqual({ a: 1, b: 100 });
  });
});

describe('computeWeights with no ready pool', () => {
  test('every weight is 0', () => {
    expect(computeWeights([pool('a', 0, 5), pool('b', 0, 0)]).weights).toEqual({ a: 0, b: 0 });
  });

  test('the state is NoReadyBackends', () => {
    expect(computeWeights([pool('a', 0, 5), pool('b', 0, 0)]).state).toBe('NoReadyBackends');
  });

  test('negative ready counts are treated as 0', () => {
    expect(computeWeights([pool('a', -1, 5)]).state).toBe('NoReadyBackends');
  });
});

describe('weightsChanged', () => {
  test('the first weights are always a change', () => {
    expect(weightsChanged(undefined, { a: 50, b: 50 })).toBe(true);
  });

  test('identical weights are no change', () => {
    expect(weightsChanged({ a: 40, b: 60 }, { a: 40, b: 60 })).toBe(false);
  });

  test('the hysteresis band is 10 points', () => {
    expect(HYSTERESIS_POINTS).toBe(10);
  });

  test('a move of 9 points is no change', () => {
    expect(weightsChanged({ a: 40, b: 60 }, { a: 49, b: 51 })).toBe(false);
  });

  test('a move of exactly 10 points is a change', () => {
    expect(weightsChanged({ a: 40, b: 60 }, { a: 50, b: 50 })).toBe(true);
  });

  test('a move of 10 points in one pool is a change even if the others barely move', () => {
    expect(weightsChanged({ a: 30, b: 35, c: 35 }, { a: 20, b: 39, c: 41 })).toBe(true);
  });

  test('a weight dropping to 0 is a change, however small the move', () => {
    expect(weightsChanged({ a: 1, b: 99 }, { a: 0, b: 100 })).toBe(true);
  });

  test('a weight rising from 0 is a change, however small the move', () => {
    expect(weightsChanged({ a: 0, b: 100 }, { a: 1, b: 99 })).toBe(true);
  });

  test('a new pool is a change', () => {
    expect(weightsChanged({ a: 100 }, { a: 95, b: 5 })).toBe(true);
  });

  test('a removed pool is a change', () => {
    expect(weightsChanged({ a: 95, b: 5 }, { a: 100 })).toBe(true);
  });

  test('all-zero to all-zero is no change', () => {
    expect(weightsChanged({ a: 0, b: 0 }, { a: 0, b: 0 })).toBe(false);
  });
});
