/**
 * Limits and cache shared through a real Redis (Debian's redis-server on a loopback port): two limiters with
 * their own connections stand for two router replicas. Concurrent reservations across both never pass a
 * limit; a cache entry stored by one is replayed byte for byte by the other; a Redis that goes away degrades
 * to per-replica counting instead of failing requests.
 */
import { Redis } from 'ioredis';
import { RedisCache } from '../../controller/router/policy/cache.js';
import { isPolicyError } from '../../controller/router/policy/errors.js';
import { Client } from '../../controller/router/policy/keys.js';
import { ClientLimiter, Reservation } from '../../controller/router/policy/limits.js';
import { TestRedis, startRedis } from '../env/redis.js';

let redis: TestRedis;
const connections: Redis[] = [];
const connect = () => {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  connections.push(c);
  return c;
};
const ready = (c: Redis) => (c.status === 'ready' ? Promise.resolve() : new Promise<void>((r) => c.once('ready', () => r())));

beforeAll(async () => { redis = await startRedis(); }, 120_000);
afterAll(async () => {
  await Promise.all(connections.map((c) => (c.status === 'ready' ? c.quit().catch(() => undefined) : c.disconnect())));
  await redis?.stop();
});

let n = 0;
const client = (limits: Client['limits']): Client => ({ id: `ns/access/redis-${++n}`, access: 'ns/access', dataClass: 'internal', limits });

test('50 concurrent reservations across two replicas under a limit of 1,000 tokens: exactly 10 pass', async () => {
  const [a, b] = [connect(), connect()];
  await Promise.all([ready(a), ready(b)]);
  const replicas = [new ClientLimiter({ redis: a }), new ClientLimiter({ redis: b })];
  const c = client({ tokensPerMinute: 1000 });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => replicas[i % 2].reserve(c, 100)));
  expect(results.filter((r) => !isPolicyError(r))).toHaveLength(10);
  // Both replicas admitted some: the counter really is shared, not two halves of the limit.
  const byReplica = [0, 1].map((k) => results.filter((r, i) => i % 2 === k && !isPolicyError(r)).length);
  expect(byReplica[0] + byReplica[1]).toBe(10);
});

test('requests per minute are counted once across replicas; settling on one is seen by the other', async () => {
  const [a, b] = [connect(), connect()];
  await Promise.all([ready(a), ready(b)]);
  const [r1, r2] = [new ClientLimiter({ redis: a }), new ClientLimiter({ redis: b })];
  const c = client({ requestsPerMinute: 3, tokensPerMinute: 1000 });
  const first = await r1.reserve(c, 900) as Reservation;          // request 1, 900 tokens
  expect(isPolicyError(await r2.reserve(c, 200))).toBe(true);       // 1,100 tokens: refused, and given back
  await r1.settle(first, 100);                                      // 100 tokens really used
  expect(isPolicyError(await r2.reserve(c, 800))).toBe(false);      // request 2, 900 tokens
  expect(isPolicyError(await r1.reserve(c, 1))).toBe(false);        // request 3, 901 tokens
  const fourth = await r2.reserve(c, 1);
  expect(isPolicyError(fourth) && fourth.code).toBe('rate_limit_exceeded');
});

test('a cache entry stored by one replica is replayed byte for byte by the other, and expires', async () => {
  const [a, b] = [connect(), connect()];
  await Promise.all([ready(a), ready(b)]);
  const body = Buffer.from([0, 1, 2, 255, ...Buffer.from('{"choices":[]}')]);
  await new RedisCache(a).set('k1', { status: 200, contentType: 'application/json', backend: 'models/vllm', body }, 300);
  const hit = await new RedisCache(b).get('k1');
  expect(hit?.body.equals(body)).toBe(true);
  expect(hit).toMatchObject({ status: 200, contentType: 'application/json', backend: 'models/vllm' });
  await new Promise((r) => setTimeout(r, 400));
  expect(await new RedisCache(b).get('k1')).toBeUndefined();
});

test('Redis going away: limits fall back to per-replica counting, the cache misses; nothing throws', async () => {
  const own = await startRedis();
  try {
    const conn = new Redis(own.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200, disconnectTimeout: 50 });
    connections.push(conn);
    await ready(conn);
    const limiter = new ClientLimiter({ redis: conn });
    const cache = new RedisCache(conn);
    const c = client({ requestsPerMinute: 2 });
    await own.stop();
    await new Promise((r) => setTimeout(r, 100));
    const results = [await limiter.reserve(c, 1), await limiter.reserve(c, 1), await limiter.reserve(c, 1)];
    expect(results.map(isPolicyError)).toEqual([false, false, true]);
    await expect(cache.set('x', { status: 200, contentType: 'a', backend: 'b', body: Buffer.from('1') }, 1000)).resolves.toBeUndefined();
    await expect(cache.get('x')).resolves.toBeUndefined();
  } finally {
    await own.stop();
  }
});
