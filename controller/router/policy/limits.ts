/**
 * Per-client limits (DESIGN §9): requests per minute and tokens per minute, counted by rate-limiter-flexible
 * in memory (per replica) or in Redis (shared by replicas). Tokens are reserved before a request is sent —
 * its `max_tokens` (or the configured estimate) plus an estimate of its prompt — and settled on the real usage
 * afterwards. The counters are incremented atomically (in Redis by one Lua script), so concurrent requests
 * cannot together pass a limit: each sees the total that includes its own reservation.
 */
import type { Redis } from 'ioredis';
import { RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { PolicyError, policyError } from './errors.js';
import { Client, Limits } from './keys.js';

const WINDOW_SECONDS = 60;
/** A window this close to its end is treated as ended, so a refund never lands in the next one. */
const SETTLE_MARGIN_MS = 1000;

export interface LimiterOptions {
  /** Shared counters; absent = in memory, per replica. */
  readonly redis?: Redis;
  /** Prefix of the Redis keys. @default "agentway" */
  readonly keyPrefix?: string;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
}

/** Tokens held for one request until it is settled. */
export interface Reservation {
  readonly client: string;
  readonly tokens: number;
  /** The tokens-per-minute limit it was taken under; undefined = no token limit. */
  readonly tokenLimit?: number;
  /** When the window the tokens were taken from ends (ms since the epoch). */
  readonly windowEnds: number;
}

const isLimit = (n: number | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/** Expected tokens of a request before it is sent. */
export interface TokenEstimate {
  /** The prompt at about four bytes a token. */
  readonly prompt: number;
  /** `max_completion_tokens`, `max_tokens`, else the configured default. */
  readonly completion: number;
}

export function tokenEstimate(body: Record<string, unknown>, defaultCompletion: number): TokenEstimate {
  const budget = [body.max_completion_tokens, body.max_tokens].find((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0) as number | undefined;
  const prompt = body.messages ?? body.prompt ?? body.input ?? '';
  const promptBytes = typeof prompt === 'string' ? Buffer.byteLength(prompt) : Buffer.byteLength(JSON.stringify(prompt));
  return { prompt: Math.ceil(promptBytes / 4), completion: Math.ceil(budget ?? defaultCompletion) };
}

/** Tokens to reserve for a request: its prompt estimate plus its completion budget. */
export function reservationTokens(body: Record<string, unknown>, defaultCompletion: number): number {
  const e = tokenEstimate(body, defaultCompletion);
  return e.prompt + e.completion;
}

const retryAfter = (ms: number): Record<string, string> => ({ 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) });

export class ClientLimiter {
  /** By kind, then by the limit: looked up on every request without building a key. */
  private readonly limiters = { rpm: new Map<number, RateLimiterAbstract>(), tpm: new Map<number, RateLimiterAbstract>() };
  private readonly clock: () => number;

  public constructor(private readonly opts: LimiterOptions = {}) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Whether the counters are shared through Redis. */
  public get shared(): boolean {
    return this.opts.redis !== undefined;
  }

  private limiter(kind: 'rpm' | 'tpm', points: number): RateLimiterAbstract {
    let l = this.limiters[kind].get(points);
    if (!l) {
      const keyPrefix = `${this.opts.keyPrefix ?? 'agentway'}:${kind}`;
      const memory = new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS });
      // With Redis, a Redis outage degrades to per-replica counting rather than refusing every request.
      l = this.opts.redis
        ? new RateLimiterRedis({ storeClient: this.opts.redis, keyPrefix, points, duration: WINDOW_SECONDS, insuranceLimiter: memory, rejectIfRedisNotReady: true })
        : memory;
      this.limiters[kind].set(points, l);
    }
    return l;
  }

  private async take(limiter: RateLimiterAbstract, key: string, points: number): Promise<RateLimiterRes | { rejected: RateLimiterRes }> {
    try {
      return await limiter.consume(key, points);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      // A refused consume still counted its points; give them back so a refused request costs nothing.
      await limiter.reward(key, points).catch(() => undefined);
      return { rejected: err };
    }
  }

  /**
   * Counts one request and reserves `tokens` for it; 429 with Retry-After when either limit is reached.
   * A reservation larger than the whole token limit is cut to the limit, so one large request can still pass
   * in an empty minute.
   */
  public async reserve(client: Client, tokens: number): Promise<Reservation | PolicyError> {
    const limits: Limits = client.limits ?? {};
    const now = this.clock();
    const limited = await this.count(client);
    if (limited) return limited;
    if (!isLimit(limits.tokensPerMinute)) return { client: client.id, tokens: 0, windowEnds: now };
    const amount = Math.max(1, Math.min(Math.ceil(tokens), limits.tokensPerMinute));
    const r = await this.take(this.limiter('tpm', limits.tokensPerMinute), client.id, amount);
    if ('rejected' in r) {
      // A request refused for its tokens costs no request either.
      if (isLimit(limits.requestsPerMinute)) await this.limiter('rpm', limits.requestsPerMinute).reward(client.id, 1).catch(() => undefined);
      return policyError(429, 'token_limit_exceeded', 'rate_limit_error',
        `client ${client.id} reached its limit of ${limits.tokensPerMinute} tokens per minute`, retryAfter(r.rejected.msBeforeNext));
    }
    return { client: client.id, tokens: amount, tokenLimit: limits.tokensPerMinute, windowEnds: now + r.msBeforeNext };
  }

  /**
   * Counts one request against requests per minute: every request through `reserve`, and on its own one that
   * needs no tokens (an answer from the cache). 429 with Retry-After at the limit, undefined when it may pass.
   */
  public async count(client: Client): Promise<PolicyError | undefined> {
    const limit = client.limits?.requestsPerMinute;
    if (!isLimit(limit)) return undefined;
    const r = await this.take(this.limiter('rpm', limit), client.id, 1);
    if (!('rejected' in r)) return undefined;
    return policyError(429, 'rate_limit_exceeded', 'rate_limit_error',
      `client ${client.id} reached its limit of ${limit} requests per minute`, retryAfter(r.rejected.msBeforeNext));
  }

  /**
   * Replaces a reservation by the tokens really used (0 for a request that failed before any answer). Unused
   * tokens go back only while the window they came from is open: given back into a new window they would
   * raise that window's limit.
   */
  public async settle(r: Reservation, usedTokens: number): Promise<void> {
    if (r.tokenLimit === undefined) return;
    const limiter = this.limiter('tpm', r.tokenLimit);
    const diff = Math.ceil(usedTokens) - r.tokens;
    if (diff > 0) await limiter.penalty(r.client, diff);
    else if (diff < 0 && this.clock() < r.windowEnds - SETTLE_MARGIN_MS) await limiter.reward(r.client, -diff);
  }
}
