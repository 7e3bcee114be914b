/**
 * How a ModelRoute's targets are tried (DESIGN §8, §9). The targets handed in are already the eligible ones
 * (filtered by data class), so no order and no fallback here can reach a lower class.
 * - `priority`: lowest `priority` first (missing = 0, ties in declaration order); on 429, 5xx, a connect
 *   failure or a timeout before the first byte went to the client, the next one is tried.
 * - `weighted`: one target drawn by `weight` (missing = 1); no fallback.
 * - `cheapest`: the target with the lowest expected cost for this request by its `pricing`; no fallback.
 * - `capacity`: the router's own choice by free capacity; the order is left as given.
 */
import { Pricing, expectedCostUsd } from './cost.js';

export type Strategy = 'capacity' | 'weighted' | 'priority' | 'cheapest';

export const STRATEGIES: readonly Strategy[] = ['capacity', 'weighted', 'priority', 'cheapest'];

export interface StrategyTarget {
  readonly weight?: number;
  readonly priority?: number;
  readonly pricing?: Pricing;
}

export interface OrderContext {
  /** A number in [0, 1); the router passes Math.random, tests a fixed one. */
  readonly random: () => number;
  /** Expected prompt and completion tokens of the request, for `cheapest`. */
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const weightOf = (t: StrategyTarget): number => (typeof t.weight === 'number' && Number.isFinite(t.weight) && t.weight >= 0 ? t.weight : 1);

function weightedPick<T extends StrategyTarget>(targets: readonly T[], random: () => number): T[] {
  const total = targets.reduce((s, t) => s + weightOf(t), 0);
  if (total === 0) return [targets[0]];
  let r = random() * total;
  for (const t of targets) {
    r -= weightOf(t);
    if (r < 0 && weightOf(t) > 0) return [t];
  }
  return [[...targets].reverse().find((t) => weightOf(t) > 0)!];
}

function stableSortBy<T>(items: readonly T[], key: (t: T) => number): T[] {
  return items.map((t, i) => ({ t, i, k: key(t) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.t);
}

/** The targets to try, in order; only `priority` ever tries more than the first. */
export function attemptOrder<T extends StrategyTarget>(strategy: Strategy, targets: readonly T[], ctx: OrderContext): T[] {
  if (targets.length === 0) return [];
  switch (strategy) {
    case 'priority': return stableSortBy(targets, (t) => (typeof t.priority === 'number' && Number.isFinite(t.priority) ? t.priority : 0));
    case 'weighted': return weightedPick(targets, ctx.random);
    case 'cheapest': return stableSortBy(targets, (t) => expectedCostUsd(t.pricing, ctx.promptTokens, ctx.completionTokens)).slice(0, 1);
    case 'capacity': return [...targets];
  }
}

/** What came of one attempt, as far as fallback cares. */
export type AttemptOutcome =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'connect-error' }
  | { readonly kind: 'timeout' };

/**
 * Whether to try the next target. Never once a byte of the answer went to the client: the client would get
 * two answers spliced together.
 */
export function shouldFallback(strategy: Strategy, outcome: AttemptOutcome, firstByteSent: boolean): boolean {
  if (strategy !== 'priority' || firstByteSent) return false;
  switch (outcome.kind) {
    case 'status': return outcome.status === 429 || outcome.status >= 500;
    case 'connect-error': case 'timeout': return true;
  }
}
