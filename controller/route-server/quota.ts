/**
 * Quotas on new instances: `maxInstancesPerClient` and `maxInstances` of the pool, counting instances in
 * the cache and those created but not yet seen there, and a token bucket per pool on the rate of creation.
 */
import { Informer } from '../kube/informer.js';
import { objectKey } from '../kube/resources.js';
import { ClientIdentity } from './api-keys.js';
import { Reply } from './reply.js';

export interface QuotaOptions {
  /** New instances per second per pool. @default 10 */
  readonly perSecond?: number;
  /** Burst of new instances per pool. @default 20 */
  readonly burst?: number;
  readonly now: () => number;
}

class TokenBucket {
  private tokens: number;
  private last: number;
  public constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }
  public take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class Quota {
  private readonly buckets = new Map<string, TokenBucket>();

  public constructor(
    private readonly pools: Informer,
    private readonly instances: Informer,
    /** Instances created and not yet in the cache. */
    private readonly pending: () => Iterable<ClientIdentity>,
    private readonly opts: QuotaOptions,
  ) {}

  /** A 404 or 429 when `who` may not have one more instance, else undefined (and a token is taken). */
  public check(who: ClientIdentity): Reply | undefined {
    const pool = this.pools.get(objectKey(who.namespace, who.pool));
    if (!pool) return { status: 404, body: 'pool not found' };
    const inPool = [
      ...this.instances.list()
        .filter((i) => i.metadata.namespace === who.namespace && i.spec?.pool === who.pool)
        .map((i) => String(i.spec?.client)),
      ...[...this.pending()].filter((p) => p.namespace === who.namespace && p.pool === who.pool).map((p) => p.client),
    ];
    const perClient = pool.spec?.maxInstancesPerClient ?? 3;
    if (inPool.filter((client) => client === who.client).length >= perClient) {
      return { status: 429, body: `client has ${perClient} instances, the pool's maxInstancesPerClient` };
    }
    const perPool = pool.spec?.maxInstances ?? 100;
    if (inPool.length >= perPool) return { status: 429, body: `pool has ${perPool} instances, its maxInstances` };
    const key = objectKey(who.namespace, who.pool);
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.opts.perSecond ?? 10, this.opts.burst ?? 20, this.opts.now())));
    if (!bucket.take(this.opts.now())) return { status: 429, headers: { 'Retry-After': '1' }, body: 'too many new instances; slow down' };
    return undefined;
  }
}
