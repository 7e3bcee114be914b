/**
 * The reconciler's pure parts: which failures are retried and how, the work queue's backoff cap, what
 * counts as already applied, and what the capacity tracker learns from a CR.
 */
import { describe, expect, test } from '@jest/globals';
import { ApiError } from '../../controller/kube/kube-client.js';
import { WorkQueue } from '../../controller/kube/queue.js';
import { isSubset } from '../../controller/reconciler/apply.js';
import { quantityValue } from '../../controller/kube/stored-form.js';
import { FORBIDDEN_MAX_DELAY_MS, failureOf } from '../../controller/reconciler/failure.js';
import { capacityTarget } from '../../manifests/render.js';
import { renderConfig } from '../../manifests/config.js';
import { synthesize } from '../../manifests/synth.js';
import { agent, clientInstance, clientPool, modelApi, sources } from './fixtures.js';

const api = (status: number) => new ApiError(status, `R${status}`, `answer ${status}`, { method: 'PATCH', path: '/x' });

describe('failures', () => {
  test('a 403 is reported and retried, at most a minute apart', () => {
    expect(failureOf('ApplyFailed', 'Deployment a', api(403))).toMatchObject({
      report: true, retry: { kind: 'backoff', maxDelayMs: FORBIDDEN_MAX_DELAY_MS }, message: 'Deployment a: answer 403',
    });
    expect(FORBIDDEN_MAX_DELAY_MS).toBe(60_000);
  });

  test.each([422, 400, 404])('a %i is reported and not retried', (status) => {
    expect(failureOf('ApplyFailed', 'Deployment a', api(status))).toMatchObject({ report: true, retry: { kind: 'none' } });
  });

  test.each([0, 409, 429, 500, 503])('a %i backs off quietly', (status) => {
    const f = failureOf('ApplyFailed', 'Deployment a', api(status));
    expect(f).toMatchObject({ report: false, retry: { kind: 'backoff' } });
    expect(f.retry).not.toHaveProperty('maxDelayMs', expect.any(Number));
  });

  test('the detail for the log names the request and the answer', () => {
    expect(failureOf('ApplyFailed', 'Deployment a', api(422)).detail).toBe('Deployment a: PATCH /x: 422 R422: answer 422');
  });
});

describe('work queue backoff', () => {
  test('doubles per failure up to the cap given', () => {
    const q = new WorkQueue({}, 5, 300_000);
    expect([0, 1, 2, 3].map((n) => q.backoff(n))).toEqual([5, 10, 20, 40]);
    expect(q.backoff(30, 60_000)).toBe(60_000);
    expect(q.backoff(30)).toBe(300_000);
    q.shutdown();
  });
});

describe('isSubset compares what the server stores', () => {
  test('quantities compare by value under limits and requests', () => {
    expect(quantityValue('0.5')).toBe(0.5);
    expect(quantityValue('500m')).toBe(0.5);
    expect(quantityValue('1Gi')).toBe(2 ** 30);
    expect(isSubset({ resources: { requests: { cpu: '0.5', memory: '1024Mi' } } }, { resources: { requests: { cpu: '500m', memory: '1Gi' } } })).toBe(true);
    expect(isSubset({ resources: { limits: { cpu: '1' } } }, { resources: { limits: { cpu: '1000m' } } })).toBe(true);
    expect(isSubset({ resources: { limits: { cpu: '1' } } }, { resources: { limits: { cpu: '2' } } })).toBe(false);
  });

  test('only under limits and requests', () => {
    expect(isSubset({ image: 'x:1.0' }, { image: 'x:1' })).toBe(false);
    expect(isSubset({ labels: { version: '0.5' } }, { labels: { version: '500m' } })).toBe(false);
  });

  test('an empty value matches an absent one, as the server omits it', () => {
    expect(isSubset({ env: [{ name: 'A', value: '' }] }, { env: [{ name: 'A' }] })).toBe(true);
    expect(isSubset({ env: [{ name: 'A', value: 'x' }] }, { env: [{ name: 'A' }] })).toBe(false);
    expect(isSubset({ args: [] }, {})).toBe(true);
  });
});

describe('capacityTarget', () => {
  test('gives the pools render renders, and how to measure them', () => {
    const t = capacityTarget(modelApi({ pools: [{ name: 'gpu', resources: { gpu: 2 } }, { name: 'cpu' }] }));
    expect(t?.pools.map((p) => [p.name, p.gpu])).toEqual([['gpu', 2], ['cpu', 0]]);
    expect(t?.capacity.source).toBe('replicas');
    expect(t?.instance).toMatch(/^modelapi-/);
  });

  test('is undefined without a route or for an invalid CR', () => {
    expect(capacityTarget(agent({ gatewayRoute: { enabled: false } }))).toBeUndefined();
    expect(capacityTarget(agent({ port: -1 }))).toBeUndefined();
    expect(capacityTarget(agent())).toBeDefined();
  });
});

describe('synth refuses CRs whose derived names collide', () => {
  const config = renderConfig();

  test('Agent foo with pool bar and Agent foo-bar, naming both', () => {
    const { errors, files } = synthesize(sources(agent({ pools: [{ name: 'bar' }] }, 'foo'), agent({}, 'foo-bar')), config);
    expect(files.size).toBe(0);
    expect(errors).toEqual(expect.arrayContaining([expect.objectContaining({
      object: 'Agent/foo-bar', path: 'metadata.name', message: expect.stringMatching(/Deployment agent-foo-bar, which Agent\/foo renders too/),
    })]));
  });

  test('a ClientPool named like a ClientInstance', () => {
    const { errors } = synthesize(sources(clientPool({}, 'sandbox'), clientPool({}, 'x'), clientInstance({ pool: 'sandbox' }, 'x')), config);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/HTTPRoute client-x, which (ClientPool|ClientInstance)\/x renders too/)]);
  });

  test('CRs with distinct names are not refused', () => {
    expect(synthesize(sources(agent({ pools: [{ name: 'bar' }] }, 'foo'), agent({}, 'foo-baz')), config).errors).toEqual([]);
  });
});
