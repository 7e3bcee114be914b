/**
 * The policy of one request, in the order the router applies it (DESIGN §9):
 *   key (401) → model allow-list (403) → data class (400 on a bad header) → targets below the class dropped
 *   (403, fail closed) → cache (a hit counts against requests per minute only: 429) → strategy order →
 *   limits (429) → [router forwards] → settle, metrics, audit.
 * Every refusal is returned as a value with its audit line already written; nothing here throws for a
 * client's input.
 */
import { LRUCache } from 'lru-cache';
import { Usage } from '../providers/types.js';
import { AuditContent, AuditRecord, AuditWriter, Decision, auditLine } from './audit.js';
import { CACHE_HEADER, CachedResponse, DEFAULT_CACHE_TTL_MS, ResponseCache, bodyDigest, cacheKey, cacheable } from './cache.js';
import { costUsd, Pricing } from './cost.js';
import { DATA_CLASS_HEADER, DataClass, filterByClass, requestClass } from './data-class.js';
import { PolicyError, isPolicyError } from './errors.js';
import { Client, ModelAccessIndex, authorizeModel } from './keys.js';
import { ClientLimiter, Reservation, TokenEstimate, tokenEstimate } from './limits.js';
import { LlmMetrics } from './metrics.js';
import { Strategy, StrategyTarget, attemptOrder } from './strategies.js';

/** A candidate ModelAPI (or ModelRoute target) as the policy sees it. */
export interface PolicyTarget extends StrategyTarget {
  /** `{namespace}/{modelapi}`. */
  readonly id: string;
  readonly dataClass: DataClass;
  /** Provider type, or undefined for in-cluster inference. */
  readonly provider?: string;
  readonly pricing?: Pricing;
}

export interface PolicyRequest {
  readonly requestId: string;
  /** When the request arrived. */
  readonly received: Date;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly model: string;
  /** The `owned_by` asked for, or undefined. */
  readonly engine?: string;
  /** The body after routing-only fields are removed. */
  readonly body: Record<string, unknown>;
  /**
   * The SHA-256 of the bytes `body` was parsed from, when the caller has it: a cacheable body sent again is
   * then known by it, and what admission derives from it is not computed again.
   */
  readonly bodyId?: string;
}

export interface PolicyDeps {
  /** The current key index (rebuilt by the router when ModelAccess objects or their Secrets change). */
  readonly index: () => ModelAccessIndex;
  readonly limiter: ClientLimiter;
  readonly cache?: ResponseCache;
  /** @default 5 minutes */
  readonly cacheTtlMs?: number;
  /** Completion tokens reserved when a request gives no max_tokens. @default 1024 */
  readonly defaultCompletionTokens?: number;
  readonly metrics?: LlmMetrics;
  readonly audit?: AuditWriter;
  /** Put prompt and completion text in audit lines. @default false */
  readonly auditContent?: boolean;
  /** @default Math.random */
  readonly random?: () => number;
  /** Milliseconds (high resolution is fine) for latency. @default performance.now */
  readonly now?: () => number;
}

/** A request let through: whom it is for, where it may go, what it holds. */
export interface Admission<T extends PolicyTarget> {
  readonly request: PolicyRequest;
  readonly client: Client;
  readonly dataClass: DataClass;
  /** Every target that may receive this request's class. */
  readonly eligible: readonly T[];
  /** The eligible targets to try, in order (more than one only for `priority`). */
  readonly targets: readonly T[];
  readonly reservation: Reservation;
  /** Set when the request may be answered from and stored in the cache. */
  readonly cacheKey?: string;
  readonly started: number;
}

/**
 * A request answered from the cache, already counted and audited `cached`. It reserved no tokens: a cached
 * answer costs the provider none.
 */
export interface CacheHit {
  readonly cacheKey: string;
  readonly response: CachedResponse;
}

export function isCacheHit<T extends PolicyTarget>(a: Admission<T> | CacheHit): a is CacheHit {
  return 'response' in a;
}

/** How a forwarded request ended, for settling, metrics and the audit line. */
export interface Outcome<T extends PolicyTarget> {
  readonly status: number;
  /** The target that answered (or failed last). */
  readonly target?: T;
  readonly usage?: Usage;
  /** Targets tried and left before `target`. */
  readonly fallbacks?: readonly T[];
  /** Error code when it failed. */
  readonly reason?: string;
  readonly content?: AuditContent;
}

/** What admission derives from a cacheable body. */
interface BodySummary {
  readonly estimate: TokenEstimate;
  /** `bodyDigest` of the body, for the cache key. */
  readonly digest: string;
  /** The cache key last made with this digest, and what else it was made of. */
  lastKey?: { readonly access: string; readonly dataClass: DataClass; readonly model: string; readonly engine: string; readonly key: string };
}

/** Distinct cacheable bodies whose summary is kept (a few hundred bytes each). */
const SUMMARIES_KEPT = 4096;

const header = (h: PolicyRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
};

export class Policy {
  private readonly now: () => number;
  /** By `bodyId`. */
  private readonly summaries = new LRUCache<string, BodySummary>({ max: SUMMARIES_KEPT });

  public constructor(private readonly deps: PolicyDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  private record(req: PolicyRequest, started: number, fields: Omit<AuditRecord, 'time' | 'requestId' | 'model' | 'latencyMs'>, content?: AuditContent): void {
    this.deps.metrics?.recordDecision(fields.decision);
    if (!this.deps.audit) return;
    this.deps.audit.write(auditLine({
      time: req.received.toISOString(), requestId: req.requestId, model: req.model, engine: req.engine || undefined,
      client: fields.client, dataClass: fields.dataClass, decision: fields.decision, reason: fields.reason, target: fields.target,
      provider: fields.provider, status: fields.status, tokens: fields.tokens, costUsd: fields.costUsd, fallbacks: fields.fallbacks,
      latencyMs: this.now() - started,
    }, this.deps.auditContent ? content : undefined));
  }

  private refuse(req: PolicyRequest, started: number, error: PolicyError, client?: Client, dataClass?: DataClass): PolicyError {
    this.record(req, started, {
      client: client?.id ?? 'unknown', ...(dataClass ? { dataClass } : {}),
      decision: error.status === 429 ? 'limited' : 'denied', reason: error.code, status: error.status,
    }, { request: req.body });
    return error;
  }

  /**
   * Runs every check before forwarding, and answers from the cache when it can: a refusal comes back as a
   * PolicyError and a cached answer as a CacheHit, both already audited.
   */
  public async admit<T extends PolicyTarget>(req: PolicyRequest, candidates: readonly T[], strategy: Strategy): Promise<Admission<T> | CacheHit | PolicyError> {
    const started = this.now();
    const client = this.deps.index().authenticate(header(req.headers, 'authorization'));
    if (isPolicyError(client)) return this.refuse(req, started, client);
    const notAllowed = authorizeModel(client, req.model);
    if (notAllowed) return this.refuse(req, started, notAllowed, client);
    const cls = requestClass(client.dataClass, req.headers[DATA_CLASS_HEADER]);
    if (isPolicyError(cls)) return this.refuse(req, started, cls, client);
    const eligible = filterByClass(candidates, cls, req.model);
    if (isPolicyError(eligible)) return this.refuse(req, started, eligible, client, cls);
    const useCache = this.deps.cache !== undefined && cacheable(req.body, req.headers[CACHE_HEADER]);
    const summary = useCache ? this.summary(req) : undefined;
    // The key names the ModelAccess and the class, and is looked up only once the key, the allow-list and the
    // class have let the request through: no entry is shared across ModelAccess objects or served past a refusal.
    const key = summary ? this.cacheKey(summary, client.access, cls, req.model, req.engine ?? '') : undefined;
    if (key !== undefined) {
      const hit = await this.cached(req, started, client, cls, eligible, key);
      if (hit) return hit;
    }
    const estimate = summary?.estimate ?? tokenEstimate(req.body, this.deps.defaultCompletionTokens ?? 1024);
    const targets = attemptOrder(strategy, eligible, {
      random: this.deps.random ?? Math.random, promptTokens: estimate.prompt, completionTokens: estimate.completion,
    });
    const reservation = await this.deps.limiter.reserve(client, estimate.prompt + estimate.completion);
    if (isPolicyError(reservation)) return this.refuse(req, started, reservation, client, cls);
    return { request: req, client, dataClass: cls, eligible, targets, reservation, started, ...(key !== undefined ? { cacheKey: key } : {}) };
  }

  /**
   * The cache key of a body's summary: the same client sending the same body again — what the cache is for —
   * gets the key made last time instead of serialising and hashing its parts again.
   */
  private cacheKey(summary: BodySummary, access: string, dataClass: DataClass, model: string, engine: string): string {
    const last = summary.lastKey;
    if (last && last.access === access && last.dataClass === dataClass && last.model === model && last.engine === engine) return last.key;
    const key = cacheKey({ access, dataClass, model, engine, bodyDigest: summary.digest });
    summary.lastKey = { access, dataClass, model, engine, key };
    return key;
  }

  /**
   * The cached answer of an admitted request, counted against its requests per minute (429 at the limit) and
   * audited; undefined on a miss. No tokens are reserved: a client at its token limit still gets an answer
   * that costs the provider nothing.
   */
  private async cached(req: PolicyRequest, started: number, client: Client, cls: DataClass, eligible: readonly PolicyTarget[], key: string): Promise<CacheHit | PolicyError | undefined> {
    const response = await this.deps.cache!.get(key);
    // An answer from a target that is no longer eligible (its class was lowered, it left the route) is a miss.
    if (!response || !eligible.some((t) => t.id === response.backend)) return undefined;
    const limited = await this.deps.limiter.count(client);
    if (limited) return this.refuse(req, started, limited, client, cls);
    this.record(req, started, { client: client.id, dataClass: cls, decision: 'cached', target: response.backend, status: response.status });
    return { cacheKey: key, response };
  }

  /**
   * The estimate and digest of a cacheable body. The same body sent again — what the cache is for — is known
   * by the SHA-256 of its bytes and is not sorted, serialised and measured again: that was most of what a
   * cache hit allocated.
   */
  private summary(req: PolicyRequest): BodySummary {
    const id = req.bodyId;
    let s = id === undefined ? undefined : this.summaries.get(id);
    if (!s) {
      s = { estimate: tokenEstimate(req.body, this.deps.defaultCompletionTokens ?? 1024), digest: bodyDigest(req.body) };
      if (id !== undefined) this.summaries.set(id, s);
    }
    return s;
  }

  /** Stores a successful non-streaming answer of an admitted request that may be cached. */
  public async store<T extends PolicyTarget>(a: Admission<T>, response: CachedResponse): Promise<void> {
    if (!a.cacheKey || !this.deps.cache || response.status !== 200) return;
    await this.deps.cache.set(a.cacheKey, response, this.deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS);
  }

  /** Settles the reservation on the real usage, counts tokens and cost, writes the audit line. */
  public async finish<T extends PolicyTarget>(a: Admission<T>, o: Outcome<T>): Promise<void> {
    // An answer without usage (an aborted stream, a server that reports none) keeps its reservation as spent;
    // a failure used nothing.
    if (o.usage || o.status >= 400) {
      const used = o.usage ? o.usage.promptTokens + o.usage.completionTokens : 0;
      await this.deps.limiter.settle(a.reservation, used).catch(() => undefined);
    }
    const provider = o.target ? o.target.provider ?? 'in-cluster' : undefined;
    const cost = o.usage ? costUsd(o.usage, o.target?.pricing) : undefined;
    if (o.usage && o.target) this.deps.metrics?.recordUsage({ model: a.request.model, provider: provider!, client: a.client.id }, o.usage, cost ?? 0);
    const decision: Decision = o.status < 400 ? 'routed' : 'failed';
    this.record(a.request, a.started, {
      client: a.client.id, dataClass: a.dataClass, decision,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.target ? { target: o.target.id, provider } : {}),
      status: o.status,
      ...(o.usage ? { tokens: { prompt: o.usage.promptTokens, completion: o.usage.completionTokens, cached: o.usage.cachedTokens } } : {}),
      ...(cost !== undefined ? { costUsd: cost } : {}),
      ...(o.fallbacks && o.fallbacks.length > 0 ? { fallbacks: o.fallbacks.map((t) => t.id) } : {}),
    }, o.content);
  }
}
