/**
 * The bad-CR corpus (test/data/bad-crs.yaml) through the API server and the controller: each case is
 * refused at create, or stored and reported Ready=False (InvalidSpec) at its path with nothing rendered,
 * or stored without its unknown field, as the corpus says.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { Kind } from '../../manifests/api.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { deleteNamespace, eventually, newNamespace } from '../env/kube.js';
import { Obj, cond, pathOf } from '../env/objects.js';
import { BadCr, badCrs } from '../data/bad-crs.js';

const T = 60_000;
const CASES = badCrs();
let kube: KubeClient;
let ns: string;
let controller: TestController;
/** What the create of each case answered: the stored object, or the refusal's status. */
const created = new Map<string, Obj | number>();

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('bad-input');
  controller = await startController(ns);
  await Promise.all(CASES.map(async (c) => {
    const kind = String(c.cr.kind) as Kind;
    try {
      created.set(c.name, await kube.request('POST', pathOf(kind, ns), { body: c.cr }));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      created.set(c.name, err.status);
    }
  }));
}, T);

afterAll(async () => {
  await controller.stop();
  await deleteNamespace(ns);
  kube.close();
});

const byMode = (mode: BadCr['apiserver']) => CASES.filter((c) => c.apiserver === mode).map((c) => [c.name, c] as const);

/** The field at a path like `spec.pools[0].replica`, or undefined. */
function at(o: Obj, path: string): unknown {
  return path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '').reduce<any>((v, k) => v?.[k], o);
}

describe('the bad-input corpus through the API server', () => {
  test.each(byMode('refused'))('%s is refused at create', (_, c) => {
    const answer = created.get(c.name);
    expect(typeof answer === 'number' && answer >= 400 && answer < 500 ? 'refused' : answer).toBe('refused');
  });

  test.each(byMode('invalidSpec'))('%s is stored, reported InvalidSpec at its path, and renders nothing', async (_, c) => {
    const stored = created.get(c.name) as Obj;
    expect(stored.metadata?.uid).toBeDefined();
    const kind = c.cr.kind as Kind;
    const ready = await eventually(async () => {
      const o = await kube.request('GET', pathOf(kind, ns, stored.metadata.name));
      const r = cond(o, 'Ready');
      expect(r).toMatchObject({ status: 'False', reason: 'InvalidSpec', observedGeneration: o.metadata.generation });
      return r!;
    }, { timeoutMs: T });
    expect(ready.message).toContain(c.path);
    for (const child of ['Deployment', 'Service', 'HTTPRoute']) {
      const list = await kube.request('GET', pathOf(child, ns));
      expect(list.items.filter((o: Obj) => (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === stored.metadata.uid))).toEqual([]);
    }
  }, T);

  test.each(byMode('pruned'))('%s is stored without the unknown field', (_, c) => {
    const stored = created.get(c.name) as Obj;
    expect(stored.metadata?.uid).toBeDefined();
    expect(at(c.cr, c.path)).toBeDefined();
    expect(at(stored, c.path)).toBeUndefined();
  });
});
