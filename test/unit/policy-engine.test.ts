/**
 * The policy of a request end to end, without the router's HTTP (DESIGN §9): keys, classes, strategies,
 * limits, cache, cost and the audit line each decision writes. The class rules are checked on every path
 * that picks a target: first choice, fallback order and cache.
 */
import { hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { AuditWriter } from '../../controller/router/policy/audit.js';
import { MemoryCache } from '../../controller/router/policy/cache.js';
import { DataClass } from '../../controller/router/policy/data-class.js';
import { Admission, CacheHit, Policy, PolicyRequest, PolicyTarget, isCacheHit } from '../../controller/router/policy/engine.js';
import { PolicyError, errorBody, isPolicyError } from '../../controller/router/policy/errors.js';
import { AccessEntry, ModelAccessIndex } from '../../controller/router/policy/keys.js';
import { ClientLimiter } from '../../controller/router/policy/limits.js';
import { LlmMetrics } from '../../controller/router/policy/metrics.js';

const KEYS = { web: 'sk-web-0123456789', batch: 'sk-batch-9876543210', other: 'sk-other-5555555555' };

const accesses: AccessEntry[] = [
  { namespace: 'team-a', name: 'apps', dataClass: 'internal', keys: { web: KEYS.web }, limits: { requestsPerMinute: 100, tokensPerMinute: 100_000 } },
  { namespace: 'team-a', name: 'secure', dataClass: 'restricted', models: ['chat'], keys: { batch: KEYS.batch }, limits: { requestsPerMinute: 2 } },
  { namespace: 'team-b', name: 'apps', dataClass: 'internal', keys: { web: KEYS.other } },
];

const openai: PolicyTarget = { id: 'models/openai', dataClass: 'public', provider: 'openai', priority: 1, pricing: { inputPer1M: 0.15, outputPer1M: 0.6 } };
const anthropic: PolicyTarget = { id: 'models/anthropic', dataClass: 'internal', provider: 'anthropic', priority: 2, pricing: { inputPer1M: 3, outputPer1M: 15 } };
const vllm: PolicyTarget = { id: 'models/vllm', dataClass: 'restricted', priority: 3, pricing: { inputPer1M: 5, outputPer1M: 20 } };

class Lines extends Writable {
  public text = '';
  public override _write(chunk: Buffer, _enc: string, cb: () => void): void { this.text += chunk.toString(); cb(); }
  public get records(): Array<Record<string, any>> { return this.text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); }
}

function setup(entries = accesses) {
  const out = new Lines();
  const registry = new Registry();
  const policy = new Policy({
    index: () => new ModelAccessIndex(entries), limiter: new ClientLimiter(), cache: new MemoryCache(),
    metrics: new LlmMetrics(registry), audit: new AuditWriter(undefined, out), random: () => 0,
  });
  return { policy, out, registry };
}

let seq = 0;
const request = (key: string | undefined, extra: { cls?: DataClass; body?: Record<string, unknown>; model?: string } = {}): PolicyRequest => ({
  requestId: `r${++seq}`, received: new Date('2026-01-02T03:04:05Z'), model: extra.model ?? 'chat',
  headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(extra.cls ? { 'x-agentway-data-class': extra.cls } : {}) },
  body: extra.body ?? { messages: [{ role: 'user', content: 'What is in the contract?' }], max_tokens: 100 },
});

const ids = (a: Admission<PolicyTarget> | CacheHit | PolicyError) => (isPolicyError(a) ? a.code : isCacheHit(a) ? 'cached' : a.targets.map((t) => t.id));
const hit = (a: Admission<PolicyTarget> | CacheHit | PolicyError) => (!isPolicyError(a) && isCacheHit(a) ? a.response : undefined);

describe('compliance: fail closed, never a lower class', () => {
  test('a restricted request with only public providers → 403 data_class_not_allowed and an audit line "denied"', async () => {
    const { policy, out } = setup();
    const r = await policy.admit(request(KEYS.batch), [openai, anthropic], 'cheapest');
    expect(isPolicyError(r) && [r.status, r.code]).toEqual([403, 'data_class_not_allowed']);
    expect(out.records).toEqual([expect.objectContaining({ decision: 'denied', reason: 'data_class_not_allowed', client: 'team-a/secure/batch', dataClass: 'restricted', status: 403 })]);
  });

  test('the same request with a private ModelAPI goes there, though the providers are cheaper', async () => {
    const { policy } = setup();
    expect(ids(await policy.admit(request(KEYS.batch), [openai, anthropic, vllm], 'cheapest'))).toEqual(['models/vllm']);
    expect(ids(await policy.admit(request(KEYS.batch), [openai, anthropic, vllm], 'weighted'))).toEqual(['models/vllm']);
  });

  test('the header raises the class of an internal client: only restricted targets stay', async () => {
    const { policy } = setup();
    expect(ids(await policy.admit(request(KEYS.web), [openai, anthropic, vllm], 'priority'))).toEqual(['models/anthropic', 'models/vllm']);
    expect(ids(await policy.admit(request(KEYS.web, { cls: 'restricted' }), [openai, anthropic, vllm], 'priority'))).toEqual(['models/vllm']);
  });

  test('the header never lowers the class', async () => {
    const { policy } = setup();
    expect(ids(await policy.admit(request(KEYS.batch, { cls: 'public' }), [openai, vllm], 'priority'))).toEqual(['models/vllm']);
  });

  test('the fallback order holds only eligible targets, whatever their priority', async () => {
    const { policy } = setup();
    // The public provider has the best priority, yet an internal request can never fall back to it.
    const a = await policy.admit(request(KEYS.web), [openai, anthropic, vllm], 'priority');
    expect(ids(a)).toEqual(['models/anthropic', 'models/vllm']);
  });

  test('a cached answer is never served to a higher class, nor from a target that is not eligible now', async () => {
    const { policy } = setup();
    const body = { messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
    const low = await policy.admit(request(KEYS.web, { body }), [anthropic, vllm], 'priority') as Admission<PolicyTarget>;
    await policy.store(low, { status: 200, contentType: 'application/json', backend: 'models/anthropic', body: Buffer.from('{"from":"anthropic"}') });
    expect(hit(await policy.admit(request(KEYS.web, { body }), [anthropic, vllm], 'priority'))).toBeDefined();
    const raised = await policy.admit(request(KEYS.web, { body, cls: 'restricted' }), [anthropic, vllm], 'priority');
    expect(ids(raised)).toEqual(['models/vllm']);
    // anthropic lowered to public since the answer was stored: the entry is no longer usable.
    const lowered = await policy.admit(request(KEYS.web, { body }), [{ ...anthropic, dataClass: 'public' }, vllm], 'priority');
    expect(ids(lowered)).toEqual(['models/vllm']);
  });
});

describe('keys and allow-list', () => {
  test('401 without a key and with an unknown one; 403 for a model not allowed; each audited "denied"', async () => {
    const { policy, out } = setup();
    expect(ids(await policy.admit(request(undefined), [vllm], 'capacity'))).toBe('missing_api_key');
    expect(ids(await policy.admit(request('sk-guess'), [vllm], 'capacity'))).toBe('invalid_api_key');
    expect(ids(await policy.admit(request(KEYS.batch, { model: 'embed' }), [vllm], 'capacity'))).toBe('model_not_allowed');
    expect(out.records.map((r) => [r.decision, r.status, r.reason, r.client])).toEqual([
      ['denied', 401, 'missing_api_key', 'unknown'], ['denied', 401, 'invalid_api_key', 'unknown'], ['denied', 403, 'model_not_allowed', 'team-a/secure/batch'],
    ]);
  });

  test('without any ModelAccess, requests are anonymous with class internal', async () => {
    const { policy } = setup([]);
    const a = await policy.admit(request(undefined), [openai, anthropic], 'capacity') as Admission<PolicyTarget> | PolicyError;
    expect(!isPolicyError(a) && [a.client.id, a.dataClass]).toEqual(['anonymous', 'internal']);
    expect(ids(a)).toEqual(['models/anthropic']);
  });
});

describe('limits, cache, cost, audit', () => {
  test('over the requests-per-minute limit → 429 with Retry-After, audited "limited"', async () => {
    const { policy, out } = setup();
    await policy.admit(request(KEYS.batch), [vllm], 'capacity');
    await policy.admit(request(KEYS.batch), [vllm], 'capacity');
    const r = await policy.admit(request(KEYS.batch), [vllm], 'capacity');
    expect(isPolicyError(r) && [r.status, r.code, typeof r.headers?.['retry-after']]).toEqual([429, 'rate_limit_exceeded', 'string']);
    expect(out.records.at(-1)).toMatchObject({ decision: 'limited', status: 429, reason: 'rate_limit_exceeded' });
  });

  test('cache entries are never shared across ModelAccess objects; a hit is audited "cached"', async () => {
    const { policy, out } = setup();
    const body = { messages: [{ role: 'user', content: 'same' }], temperature: 0 };
    const a = await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    expect(a.cacheKey).toBeDefined();
    expect(ids(a)).toEqual(['models/anthropic']);
    await policy.store(a, { status: 200, contentType: 'application/json', backend: 'models/anthropic', body: Buffer.from('{"x":1}') });
    const same = await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity');
    expect(hit(same)?.body.toString()).toBe('{"x":1}');
    const otherAccess = await policy.admit(request(KEYS.other, { body }), [anthropic], 'capacity');
    expect(ids(otherAccess)).toEqual(['models/anthropic']);
    expect(out.records.filter((r) => r.decision === 'cached')).toEqual([expect.objectContaining({ target: 'models/anthropic', status: 200, client: 'team-a/apps/web' })]);
  });

  test('a cached answer reserves no tokens: a client at its token limit still gets it, counted against its requests per minute', async () => {
    const { policy, out } = setup([{ namespace: 'team-c', name: 'metered', dataClass: 'internal', keys: { bot: KEYS.web }, limits: { requestsPerMinute: 4, tokensPerMinute: 1000 } }]);
    const body = { messages: [{ role: 'user', content: 'cached' }], temperature: 0, max_tokens: 900 };
    const first = await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity') as Admission<PolicyTarget>; // request 1
    await policy.store(first, { status: 200, contentType: 'application/json', backend: anthropic.id, body: Buffer.from('{"x":1}') });
    await policy.finish(first, { status: 200, target: anthropic, usage: { promptTokens: 10, completionTokens: 990, cachedTokens: 0 } });
    // The minute's 1,000 tokens are spent: a request the cache cannot answer is refused (and its request given back).
    const uncached = { messages: [{ role: 'user', content: 'not cached' }], temperature: 0, max_tokens: 1 };
    expect(ids(await policy.admit(request(KEYS.web, { body: uncached }), [anthropic], 'capacity'))).toBe('token_limit_exceeded');
    for (let i = 0; i < 3; i++) expect(hit(await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity'))?.body.toString()).toBe('{"x":1}'); // requests 2-4
    const limited = await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity'); // request 5
    expect(isPolicyError(limited) && [limited.status, limited.code, typeof limited.headers?.['retry-after']]).toEqual([429, 'rate_limit_exceeded', 'string']);
    expect(out.records.map((r) => [r.decision, r.status])).toEqual([['routed', 200], ['limited', 429], ['cached', 200], ['cached', 200], ['cached', 200], ['limited', 429]]);
  });

  test('the key is checked before the cache: a cached body without a valid key gets 401', async () => {
    const { policy } = setup();
    const body = { messages: [{ role: 'user', content: 'cached for web' }], temperature: 0 };
    const a = await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    await policy.store(a, { status: 200, contentType: 'application/json', backend: anthropic.id, body: Buffer.from('{"x":1}') });
    expect(ids(await policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity'))).toBe('cached');
    expect(ids(await policy.admit(request(undefined, { body }), [anthropic], 'capacity'))).toBe('missing_api_key');
    expect(ids(await policy.admit(request('sk-guess', { body }), [anthropic], 'capacity'))).toBe('invalid_api_key');
  });

  test('a body known by its bytes is admitted as when it is read anew: same key, same reservation', async () => {
    const body = { temperature: 0, messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 7 };
    const bodyId = hash('sha256', JSON.stringify(body), 'base64');
    const reordered = { max_tokens: 7, messages: [{ content: 'x'.repeat(400), role: 'user' }], temperature: 0 };
    const fresh = await setup().policy.admit(request(KEYS.web, { body }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    const { policy } = setup();
    const first = await policy.admit({ ...request(KEYS.web, { body }), bodyId }, [anthropic], 'capacity') as Admission<PolicyTarget>;
    const again = await policy.admit({ ...request(KEYS.web, { body }), bodyId }, [anthropic], 'capacity') as Admission<PolicyTarget>;
    const otherBytes = await policy.admit({ ...request(KEYS.web, { body: reordered }), bodyId: hash('sha256', JSON.stringify(reordered), 'base64') }, [anthropic], 'capacity') as Admission<PolicyTarget>;
    const otherAccess = await policy.admit({ ...request(KEYS.other, { body }), bodyId }, [anthropic], 'capacity') as Admission<PolicyTarget>;
    for (const a of [first, again, otherBytes]) {
      expect(a.cacheKey).toBe(fresh.cacheKey);
      expect(a.reservation.tokens).toBe(fresh.reservation.tokens);
    }
    expect(fresh.reservation.tokens).toBe(7 + Math.ceil(Buffer.byteLength(JSON.stringify(body.messages)) / 4));
    expect(otherAccess.cacheKey).not.toBe(fresh.cacheKey);
    // The same bytes under a raised class, then under the client's own class again.
    const raised = await policy.admit({ ...request(KEYS.web, { body, cls: 'restricted' }), bodyId }, [vllm], 'capacity') as Admission<PolicyTarget>;
    const back = await policy.admit({ ...request(KEYS.web, { body }), bodyId }, [anthropic], 'capacity') as Admission<PolicyTarget>;
    expect(raised.cacheKey).not.toBe(fresh.cacheKey);
    expect(back.cacheKey).toBe(fresh.cacheKey);
  });

  test('streaming and non-zero temperature are never cached; errors are never stored', async () => {
    const { policy } = setup();
    const s = await policy.admit(request(KEYS.web, { body: { messages: [], temperature: 0, stream: true } }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    expect(s.cacheKey).toBeUndefined();
    const t = await policy.admit(request(KEYS.web, { body: { messages: [], temperature: 1 } }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    expect(t.cacheKey).toBeUndefined();
    const e = await policy.admit(request(KEYS.web, { body: { messages: ['e'], temperature: 0 } }), [anthropic], 'capacity') as Admission<PolicyTarget>;
    await policy.store(e, { status: 500, contentType: 'application/json', backend: anthropic.id, body: Buffer.from('{}') });
    expect(ids(await policy.admit(request(KEYS.web, { body: { messages: ['e'], temperature: 0 } }), [anthropic], 'capacity'))).toEqual(['models/anthropic']);
  });

  test('finish: tokens and cost metrics, an audit line "routed" with tokens, cost, target, provider and fallbacks', async () => {
    const { policy, out, registry } = setup();
    const a = await policy.admit(request(KEYS.web), [openai, anthropic, vllm], 'priority') as Admission<PolicyTarget>;
    await policy.finish(a, { status: 200, target: vllm, fallbacks: [anthropic], usage: { promptTokens: 1000, completionTokens: 200, cachedTokens: 0 } });
    expect(out.records.at(-1)).toMatchObject({
      decision: 'routed', target: 'models/vllm', provider: 'in-cluster', status: 200, dataClass: 'internal', client: 'team-a/apps/web',
      tokens: { prompt: 1000, completion: 200, cached: 0 }, costUsd: 0.009, fallbacks: ['models/anthropic'],
    });
    const text = await registry.metrics();
    expect(text).toContain('agentway_llm_tokens_total{model="chat",provider="in-cluster",client="team-a/apps/web",type="output"} 200');
    expect(text).toContain('agentway_llm_cost_usd_total{model="chat",provider="in-cluster",client="team-a/apps/web"} 0.009');
  });

  test('a failure is audited "failed" with its reason', async () => {
    const { policy, out } = setup();
    const a = await policy.admit(request(KEYS.web), [anthropic], 'priority') as Admission<PolicyTarget>;
    await policy.finish(a, { status: 502, target: anthropic, reason: 'upstream_connect_error' });
    expect(out.records.at(-1)).toMatchObject({ decision: 'failed', status: 502, reason: 'upstream_connect_error', target: 'models/anthropic' });
  });

  test('no audit line holds prompt text unless content auditing is on', async () => {
    const { policy, out } = setup();
    const a = await policy.admit(request(KEYS.web), [anthropic], 'priority') as Admission<PolicyTarget>;
    await policy.finish(a, { status: 200, target: anthropic, content: { request: a.request.body, response: 'The contract says' } });
    await policy.admit(request('sk-wrong'), [anthropic], 'priority');
    expect(out.text).not.toContain('What is in the contract');
    expect(out.text).not.toContain('The contract says');
  });
});

test('keys never appear in audit lines, metrics or error bodies', async () => {
  const { policy, out, registry } = setup();
  const errors: PolicyError[] = [];
  for (const key of [...Object.values(KEYS), 'sk-not-a-real-key-1']) {
    for (let i = 0; i < 3; i++) {
      const a = await policy.admit(request(key, { cls: i === 2 ? 'restricted' : undefined }), [openai, anthropic], 'priority') as Admission<PolicyTarget> | PolicyError;
      if (isPolicyError(a)) { errors.push(a); continue; }
      await policy.finish(a, { status: 200, target: a.targets[0], usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 } });
    }
  }
  expect(errors.length).toBeGreaterThan(0);
  const everything = [out.text, await registry.metrics(), ...errors.map((e) => errorBody(e).toString() + JSON.stringify(e.headers ?? {}))].join('\n');
  for (const key of [...Object.values(KEYS), 'sk-not-a-real-key-1']) expect(everything).not.toContain(key);
  expect(everything).toContain('team-a/apps/web');
});
