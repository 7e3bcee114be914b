/**
 * Token, cost and decision metrics of the router (DESIGN §9). Labels name the client by id, never by key.
 */
import { Counter, Registry } from 'prom-client';
import { Usage } from '../providers/types.js';
import { Decision } from './audit.js';

export interface UsageLabels {
  readonly model: string;
  /** Provider type, or the engine for in-cluster inference. */
  readonly provider: string;
  readonly client: string;
}

export class LlmMetrics {
  public readonly tokens: Counter<'model' | 'provider' | 'client' | 'type'>;
  public readonly cost: Counter<'model' | 'provider' | 'client'>;
  public readonly decisions: Counter<'decision'>;

  public constructor(registry: Registry) {
    this.tokens = new Counter({
      name: 'agentway_llm_tokens_total', help: 'Tokens used, by type: input (uncached prompt), cached_input, output',
      labelNames: ['model', 'provider', 'client', 'type'], registers: [registry],
    });
    this.cost = new Counter({
      name: 'agentway_llm_cost_usd_total', help: 'Cost in USD by the ModelAPI pricing',
      labelNames: ['model', 'provider', 'client'], registers: [registry],
    });
    this.decisions = new Counter({
      name: 'agentway_llm_requests_total', help: 'Requests by policy decision (routed, denied, limited, cached, failed)',
      labelNames: ['decision'], registers: [registry],
    });
  }

  public recordUsage(labels: UsageLabels, usage: Usage, costUsd: number): void {
    const l = { model: labels.model, provider: labels.provider, client: labels.client };
    const cached = Math.min(usage.cachedTokens, usage.promptTokens);
    if (usage.promptTokens - cached > 0) this.tokens.inc({ ...l, type: 'input' }, usage.promptTokens - cached);
    if (cached > 0) this.tokens.inc({ ...l, type: 'cached_input' }, cached);
    if (usage.completionTokens > 0) this.tokens.inc({ ...l, type: 'output' }, usage.completionTokens);
    if (costUsd > 0) this.cost.inc(l, costUsd);
  }

  public recordDecision(decision: Decision): void {
    this.decisions.inc({ decision });
  }
}
