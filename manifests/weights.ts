/**
 * Capacity-aware backend weights (DESIGN §4): pure functions of what each pool has ready and free.
 */

export interface PoolCapacity {
  readonly name: string;
  /** Ready endpoints of the pool. */
  readonly ready: number;
  /** Free capacity of the pool, in the unit of its capacity metric. */
  readonly capacity: number;
}

export type WeightState =
  /** Some pool has free capacity: weights follow capacity. */
  | 'Available'
  /** Pools are ready but none has free capacity: weights follow ready endpoints. */
  | 'CapacityExhausted'
  /** No pool has a ready endpoint: every weight is 0. */
  | 'NoReadyBackends';

export interface Weights {
  readonly weights: Readonly<Record<string, number>>;
  readonly state: WeightState;
}

function proportional(pools: readonly PoolCapacity[], share: (p: PoolCapacity) => number): Record<string, number> {
  const total = pools.reduce((sum, p) => sum + share(p), 0);
  return Object.fromEntries(pools.map((p) => {
    const s = share(p);
    return [p.name, s > 0 ? Math.max(1, Math.round((100 * s) / total)) : 0];
  }));
}

/** Weights out of ~100 per pool; a pool without ready endpoints always gets 0. */
export function computeWeights(pools: readonly PoolCapacity[]): Weights {
  const ready = (p: PoolCapacity) => Math.max(0, p.ready);
  const free = (p: PoolCapacity) => (ready(p) > 0 ? Math.max(0, p.capacity) : 0);
  if (pools.every((p) => ready(p) === 0)) {
    return { weights: Object.fromEntries(pools.map((p) => [p.name, 0])), state: 'NoReadyBackends' };
  }
  if (pools.some((p) => free(p) > 0)) return { weights: proportional(pools, free), state: 'Available' };
  return { weights: proportional(pools, ready), state: 'CapacityExhausted' };
}

/** A weight change smaller than this (in points) is not worth a route rewrite. */
export const HYSTERESIS_POINTS = 10;

/**
 * Whether `next` differs enough from `current` to rewrite the route: a weight crosses 0, or moves by at
 * least HYSTERESIS_POINTS, or the set of pools changed.
 */
export function weightsChanged(current: Readonly<Record<string, number>> | undefined, next: Readonly<Record<string, number>>): boolean {
  if (!current) return true;
  const names = new Set([...Object.keys(current), ...Object.keys(next)]);
  for (const name of names) {
    const a = current[name];
    const b = next[name];
    if (a === undefined || b === undefined) return true;
    if ((a === 0) !== (b === 0)) return true;
    if (Math.abs(a - b) >= HYSTERESIS_POINTS) return true;
  }
  return false;
}
