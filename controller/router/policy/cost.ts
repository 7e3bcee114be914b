/** Prices and cost (DESIGN §9): USD per million tokens; a missing price counts 0. */
import { Usage } from '../providers/types.js';

export interface Pricing {
  readonly inputPer1M?: number;
  readonly outputPer1M?: number;
  readonly cachedInputPer1M?: number;
}

const price = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Cost of one answer: uncached prompt tokens at the input price, cached ones at the cached price. */
export function costUsd(usage: Usage, pricing: Pricing | undefined): number {
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  return ((usage.promptTokens - cached) * price(pricing?.inputPer1M)
    + cached * price(pricing?.cachedInputPer1M)
    + usage.completionTokens * price(pricing?.outputPer1M)) / 1e6;
}

/** Expected cost of a request before it is sent, for the `cheapest` strategy. */
export function expectedCostUsd(pricing: Pricing | undefined, promptTokens: number, completionTokens: number): number {
  return costUsd({ promptTokens, completionTokens, cachedTokens: 0 }, pricing);
}
