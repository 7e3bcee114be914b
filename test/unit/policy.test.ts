/**
 * Policy pieces that need no server (DESIGN §9): data classes, keys, strategies and fallback, cost, cache keys,
 * audit lines and metrics.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { AuditWriter, auditLine } from '../../controller/router/policy/audit.js';
import { MemoryCache, bodyDigest, cacheKey, cacheable, canonicalJson } from '../../controller/router/policy/cache.js';
import { costUsd, expectedCostUsd } from '../../controller/router/policy/cost.js';
import { eligibleTargets, filterByClass, modelApiClass, requestClass } from '../../controller/router/policy/data-class.js';
import { errorBody, isPolicyError } from '../../controller/router/policy/errors.js';
import { ANONYMOUS, ModelAccessIndex, authorizeModel } from '../../controller/router/policy/keys.js';
import { LlmMetrics } from '../../controller/router/policy/metrics.js';
import { attemptOrder, shouldFallback } from '../../controller/router/policy/strategies.js';

const access = (over: Partial<ConstructorParameters<typeof ModelAccessIndex>[0][number]> = {}) => ({
  namespace: 'team-a', name: 'apps', dataClass: 'confidential' as const, keys: { web: 'key-web-123', batch: 'key-batch-456' }, ...over,
});

describe('data classes', () => {
  test('a ModelAPI defaults to restricted in the cluster and public as an external provider', () => {
    expect(modelApiClass(undefined, false)).toBe('restricted');
    expect(modelApiClass(undefined, true)).toBe('public');
    expect(modelApiClass('internal', true)).toBe('internal');
  });

  test('the header raises the class and never lowers it', () => {
    expect(requestClass('internal', 'restricted')).toBe('restricted');
    expect(requestClass('confidential', 'public')).toBe('confidential');
    expect(requestClass('internal', undefined)).toBe('internal');
    expect(requestClass('internal', ['public', 'Confidential'])).toBe('confidential');
  });

  test('a header naming no class is refused with 400, not ignored', () => {
    const r = requestClass('internal', 'secret');
    expect(isPolicyError(r) && r.status).toBe(400);
    expect(isPolicyError(r) && r.code).toBe('invalid_data_class');
  });

  const targets = [
    { id: 'p/openai', dataClass: 'public' as const },
    { id: 'p/azure', dataClass: 'confidential' as const },
    { id: 'p/vllm', dataClass: 'restricted' as const },
  ];

  test('targets below the request class are dropped; order is kept', () => {
    expect(eligibleTargets(targets, 'public').map((t) => t.id)).toEqual(['p/openai', 'p/azure', 'p/vllm']);
    expect(eligibleTargets(targets, 'internal').map((t) => t.id)).toEqual(['p/azure', 'p/vllm']);
    expect(eligibleTargets(targets, 'restricted').map((t) => t.id)).toEqual(['p/vllm']);
  });

  test('none left → 403 data_class_not_allowed (fail closed)', () => {
    const r = filterByClass(targets.slice(0, 2), 'restricted', 'chat');
    expect(isPolicyError(r) && [r.status, r.code]).toEqual([403, 'data_class_not_allowed']);
    expect(isPolicyError(r) && JSON.parse(errorBody(r).toString())).toEqual({ error: { message: 'no target of model "chat" may receive data of class restricted', type: 'permission_error', code: 'data_class_not_allowed' } });
  });
});

describe('keys', () => {
  test('no ModelAccess at all → anonymous, class internal, no key needed', () => {
    const idx = new ModelAccessIndex([]);
    expect(idx.anonymous).toBe(true);
    expect(idx.authenticate(undefined)).toBe(ANONYMOUS);
    expect(ANONYMOUS.dataClass).toBe('internal');
  });

  test('a Bearer key finds its client with the ModelAccess class, models and limits', () => {
    const idx = new ModelAccessIndex([access({ models: ['chat'], limits: { requestsPerMinute: 5 } })]);
    expect(idx.authenticate('Bearer key-web-123')).toEqual({
      id: 'team-a/apps/web', access: 'team-a/apps', dataClass: 'confidential', models: ['chat'], limits: { requestsPerMinute: 5 },
    });
    expect(idx.authenticate('bearer   key-batch-456')).toMatchObject({ id: 'team-a/apps/batch' });
  });

  test.each([
    ['missing', undefined, 'missing_api_key'],
    ['not Bearer', 'Basic a2V5', 'missing_api_key'],
    ['unknown', 'Bearer key-web-124', 'invalid_api_key'],
    ['a prefix of a key', 'Bearer key-web-12', 'invalid_api_key'],
    ['a key with more after it', 'Bearer key-web-1234', 'invalid_api_key'],
  ])('%s key → 401 %s', (_n, header, code) => {
    const r = new ModelAccessIndex([access()]).authenticate(header);
    expect(isPolicyError(r) && [r.status, r.code]).toEqual([401, code]);
  });

  test('a key shared by two clients is refused for both and reported by client, not by key', () => {
    const idx = new ModelAccessIndex([access(), access({ name: 'other', keys: { x: 'key-web-123' } })]);
    expect(isPolicyError(idx.authenticate('Bearer key-web-123'))).toBe(true);
    expect(idx.authenticate('Bearer key-batch-456')).toMatchObject({ id: 'team-a/apps/batch' });
    expect(idx.problems).toEqual([{ message: 'an API key belongs to two clients; it is refused', clients: ['team-a/apps/web', 'team-a/other/x'] }]);
    expect(JSON.stringify(idx.problems)).not.toContain('key-web-123');
  });

  test('the allow-list: absent allows every model, present only its models (403 otherwise)', () => {
    expect(authorizeModel({ ...ANONYMOUS }, 'any')).toBeUndefined();
    const limited = { id: 'a/b/c', access: 'a/b', dataClass: 'public' as const, models: ['chat'] };
    expect(authorizeModel(limited, 'chat')).toBeUndefined();
    expect(authorizeModel(limited, 'embed')).toMatchObject({ status: 403, code: 'model_not_allowed' });
  });

  test('refusals never carry the key', () => {
    const r = new ModelAccessIndex([access()]).authenticate('Bearer wrong-secret-value');
    expect(JSON.stringify(r)).not.toContain('wrong-secret-value');
  });
});

describe('strategies', () => {
  const ctx = { random: () => 0.5, promptTokens: 1000, completionTokens: 500 };
  const a = { id: 'a', priority: 2, weight: 1, pricing: { inputPer1M: 3, outputPer1M: 15 } };
  const b = { id: 'b', priority: 1, weight: 3, pricing: { inputPer1M: 0.15, outputPer1M: 0.6 } };
  const c = { id: 'c', weight: 0 }; // no priority (0), no price (free)

  test('priority: lowest first, missing = 0, ties in declaration order', () => {
    expect(attemptOrder('priority', [a, b, c], ctx).map((t) => t.id)).toEqual(['c', 'b', 'a']);
    expect(attemptOrder('priority', [{ id: 'x', priority: 1 }, { id: 'y', priority: 1 }], ctx).map((t) => t.id)).toEqual(['x', 'y']);
  });

  test('weighted: drawn by weight, a zero weight never drawn', () => {
    const draws = [0, 0.24, 0.26, 0.99].map((r) => attemptOrder('weighted', [a, b, c], { ...ctx, random: () => r })[0].id);
    expect(draws).toEqual(['a', 'a', 'b', 'b']);
  });

  test('cheapest: lowest expected cost for this request; one target', () => {
    expect(attemptOrder('cheapest', [a, b], ctx).map((t) => t.id)).toEqual(['b']);
    expect(attemptOrder('cheapest', [a, b, c], ctx).map((t) => t.id)).toEqual(['c']);
  });

  test('fallback on 429, 5xx, connect failure and timeout before the first byte — never after, never other statuses', () => {
    expect(shouldFallback('priority', { kind: 'status', status: 503 }, false)).toBe(true);
    expect(shouldFallback('priority', { kind: 'status', status: 429 }, false)).toBe(true);
    expect(shouldFallback('priority', { kind: 'connect-error' }, false)).toBe(true);
    expect(shouldFallback('priority', { kind: 'timeout' }, false)).toBe(true);
    expect(shouldFallback('priority', { kind: 'status', status: 400 }, false)).toBe(false);
    expect(shouldFallback('priority', { kind: 'status', status: 401 }, false)).toBe(false);
    expect(shouldFallback('priority', { kind: 'status', status: 503 }, true)).toBe(false);
    expect(shouldFallback('priority', { kind: 'timeout' }, true)).toBe(false);
    expect(shouldFallback('cheapest', { kind: 'status', status: 503 }, false)).toBe(false);
  });
});

describe('cost', () => {
  test('uncached prompt at input price, cached at cached price, completion at output price', () => {
    expect(costUsd({ promptTokens: 1_000_000, completionTokens: 500_000, cachedTokens: 200_000 }, { inputPer1M: 3, outputPer1M: 15, cachedInputPer1M: 0.3 }))
      .toBeCloseTo(0.8 * 3 + 0.2 * 0.3 + 0.5 * 15, 9);
  });

  test('a missing price counts 0', () => {
    expect(costUsd({ promptTokens: 100, completionTokens: 100, cachedTokens: 50 }, { outputPer1M: 10 })).toBeCloseTo(0.001, 9);
    expect(costUsd({ promptTokens: 100, completionTokens: 100, cachedTokens: 0 }, undefined)).toBe(0);
    expect(expectedCostUsd({ inputPer1M: 1 }, 1e6, 1e6)).toBe(1);
  });
});

describe('cache keys', () => {
  const body = { messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
  const parts = { access: 'team-a/apps', dataClass: 'internal' as const, model: 'chat', engine: 'vllm', bodyDigest: bodyDigest(body) };

  test('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
    expect(cacheKey(parts)).toBe(cacheKey({ ...parts, bodyDigest: bodyDigest({ temperature: 0, messages: [{ content: 'hi', role: 'user' }] }) }));
  });

  test('another ModelAccess, class, model, engine or body → another key', () => {
    const k = cacheKey(parts);
    expect(cacheKey({ ...parts, access: 'team-b/apps' })).not.toBe(k);
    expect(cacheKey({ ...parts, dataClass: 'restricted' })).not.toBe(k);
    expect(cacheKey({ ...parts, model: 'chat-2' })).not.toBe(k);
    expect(cacheKey({ ...parts, engine: 'sglang' })).not.toBe(k);
    expect(cacheKey({ ...parts, bodyDigest: bodyDigest({ ...body, max_tokens: 5 }) })).not.toBe(k);
    expect(cacheKey({ ...parts, engine: 'VLLM' })).toBe(k);
    // Parts are kept apart: moving text from one part to the next is another key.
    expect(cacheKey({ ...parts, model: 'chat', engine: 'vllm' })).not.toBe(cacheKey({ ...parts, model: 'chat","vllm', engine: '' }));
  });

  test('only non-streaming requests with temperature 0 or x-agentway-cache: use', () => {
    expect(cacheable({ temperature: 0 }, undefined)).toBe(true);
    expect(cacheable({ temperature: 0.7 }, undefined)).toBe(false);
    expect(cacheable({}, undefined)).toBe(false);
    expect(cacheable({ temperature: 0.7 }, 'use')).toBe(true);
    expect(cacheable({ temperature: 0, stream: true }, 'use')).toBe(false);
  });

  test('the memory cache is bounded by bytes and drops the least recently used', async () => {
    const cache = new MemoryCache({ maxBytes: 2500, maxEntryBytes: 2000 });
    const entry = (n: number) => ({ status: 200, contentType: 'application/json', backend: 'ns/m', body: Buffer.alloc(n) });
    await cache.set('a', entry(900), 60_000);
    await cache.set('b', entry(900), 60_000);
    await cache.get('a');
    await cache.set('c', entry(900), 60_000);
    await cache.set('big', entry(2500), 60_000);
    expect(await cache.get('big')).toBeUndefined();
    expect([await cache.get('a'), await cache.get('b'), await cache.get('c')].map((e) => e !== undefined)).toEqual([true, false, true]);
  });

  test('entries expire after their TTL', async () => {
    const cache = new MemoryCache();
    await cache.set('k', { status: 200, contentType: 'x', backend: 'b', body: Buffer.from('1') }, 30);
    expect(await cache.get('k')).toBeDefined();
    await new Promise((r) => setTimeout(r, 60));
    expect(await cache.get('k')).toBeUndefined();
  });
});

describe('audit and metrics', () => {
  test('an audit line is one JSON line with the fields of §9 and no content unless asked', () => {
    const rec = {
      time: '2026-01-02T03:04:05.000Z', requestId: 'r1', client: 'team-a/apps/web', model: 'chat', engine: 'vllm', dataClass: 'internal' as const,
      decision: 'routed' as const, target: 'models/vllm', provider: 'in-cluster', status: 200, tokens: { prompt: 10, completion: 5, cached: 0 },
      costUsd: 0.0000123456789, latencyMs: 12.34567,
    };
    const line = auditLine(rec);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trim()).not.toContain('\n');
    const j = JSON.parse(line);
    expect(Object.keys(j).sort()).toEqual(['audit', 'client', 'costUsd', 'dataClass', 'decision', 'engine', 'latencyMs', 'model', 'provider', 'requestId', 'status', 'target', 'time', 'tokens']);
    expect(j.costUsd).toBe(0.000012346);
    expect(JSON.parse(auditLine(rec, { request: { messages: [{ role: 'user', content: 'secret prompt' }] } })).content.request.messages[0].content).toBe('secret prompt');
  });

  test('audit lines to a file arrive in batches without a close, the rest on close, in a file only its owner reads', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'agentway-audit-'));
    try {
      const file = path.join(dir, 'audit.log');
      const writer = new AuditWriter(file);
      for (let i = 0; i < 3; i++) writer.write(`{"audit":true,"n":${i}}\n`);
      const lines = () => { try { return readFileSync(file, 'utf8').split('\n').filter(Boolean); } catch { return []; } };
      // Held below the batch size, the lines still go out on the periodic flush, while the writer stays open.
      for (let waited = 0; lines().length < 3 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(lines()).toEqual(['{"audit":true,"n":0}', '{"audit":true,"n":1}', '{"audit":true,"n":2}']);
      writer.write('{"audit":true,"n":3}\n');
      await writer.close();
      expect(lines()).toHaveLength(4);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('token and cost counters by model, provider, client and type', async () => {
    const registry = new Registry();
    const m = new LlmMetrics(registry);
    m.recordUsage({ model: 'chat', provider: 'anthropic', client: 'team-a/apps/web' }, { promptTokens: 100, completionTokens: 20, cachedTokens: 40 }, 0.5);
    const text = await registry.metrics();
    expect(text).toContain('agentway_llm_tokens_total{model="chat",provider="anthropic",client="team-a/apps/web",type="input"} 60');
    expect(text).toContain('agentway_llm_tokens_total{model="chat",provider="anthropic",client="team-a/apps/web",type="cached_input"} 40');
    expect(text).toContain('agentway_llm_tokens_total{model="chat",provider="anthropic",client="team-a/apps/web",type="output"} 20');
    expect(text).toContain('agentway_llm_cost_usd_total{model="chat",provider="anthropic",client="team-a/apps/web"} 0.5');
  });
});
