/**
 * The controller as it is deployed: several replicas behind one Lease, authenticated as the ServiceAccount
 * that `agentway install` creates with only the RBAC it renders, and applying exactly what `agentway synth`
 * renders for the same CRs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { PART_OF_LABEL } from '../../controller/reconciler/child-cache.js';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, resourceType } from '../../controller/kube/resources.js';
import { renderConfig } from '../../manifests/config.js';
import { CONTROLLER_NAME, LEASE_NAME } from '../../manifests/defaults.js';
import { renderInstall } from '../../manifests/install.js';
import { LABELS, MANAGED_BY } from '../../manifests/names.js';
import { SHARED_FILE, synthesize } from '../../manifests/synth.js';
import { repoRoot } from '../env/control-plane.js';
import { Scenarios, TestController, startController, testClient } from '../env/controller.js';
import { crdForKube120 } from '../env/install-crds.js';
import { applyInstallRbac, kubeConfigWithToken, serviceAccountToken } from '../env/install-rbac.js';
import { Obj, TestObjects, cond, ignoreNotFound, pathOf } from '../env/objects.js';
import { eventually } from '../env/kube.js';

const T = 90_000;

let kube: KubeClient;
const scenarios = new Scenarios();
const namespace = (prefix: string) => scenarios.namespace(prefix);
const run = (ns: string, opts: Parameters<typeof scenarios.run>[1] = {}) => scenarios.run(ns, opts);
const clusterObjects: string[] = [];
const clients: KubeClient[] = [];

beforeAll(() => { kube = testClient(); objects = new TestObjects(kube); });
afterEach(() => scenarios.stopAll());
afterAll(async () => {
  for (const p of clusterObjects) await kube.request('DELETE', p).catch(ignoreNotFound);
  await scenarios.deleteNamespaces();
  for (const c of clients) c.close();
  kube.close();
});



/** Election options for a replica: a short lease, so that a takeover happens within a test. */
function replica(ns: string, identity: string): Parameters<typeof startController>[1] {
  return {
    identity,
    leaderElection: { namespace: ns, name: LEASE_NAME, leaseDurationMs: 3000, retryPeriodMs: 300, renewDeadlineMs: 2000 },
  };
}

let objects: TestObjects;
const get = (kind: string, ns: string, name: string) => objects.get(kind, ns, name);
const mustGet = (kind: string, ns: string, name: string) => objects.mustGet(kind, ns, name);
const create = (ns: string, kind: string, name: string, spec: Obj) => objects.create(ns, kind, name, spec);
const path = pathOf;

/** Reconciles this replica has run, of any kind and result. */
async function reconciles(c: TestController): Promise<number> {
  return (await c.manager.metrics.reconcileTotal.get()).values.reduce((s, v) => s + v.value, 0);
}

const micro = (d: Date) => d.toISOString().replace('Z', '000Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `probe` held at any of the samples taken over `ms`. */
async function everWithin(ms: number, probe: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (probe()) return true;
    await sleep(100);
  }
  return probe();
}

/**
 * Paths (with the two values) where `live` lacks a field of `desired` or holds another value. Objects may
 * hold more fields; lists are compared element by element, as server-side apply owns them.
 */
function mismatches(desired: unknown, live: unknown, at = ''): string[] {
  if (desired === live) return [];
  const differs = [`${at || '.'}: want ${JSON.stringify(desired)}, got ${JSON.stringify(live)}`];
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return differs;
    return desired.flatMap((d, i) => mismatches(d, live[i], `${at}[${i}]`));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return differs;
    return Object.entries(desired).flatMap(([k, v]) => (v === undefined ? [] : mismatches(v, (live as Obj)[k], at ? `${at}.${k}` : k)));
  }
  return differs;
}

const agentSpec = (extra: Obj = {}): Obj => ({ image: 'ghcr.io/acme/agent:1.2', port: 8000, ...extra });

describe('leader election', () => {
  test('of two replicas one leads and reconciles; when it stops, the other takes over', async () => {
    const ns = await namespace('ha-two');
    const [a, b] = await Promise.all([run(ns, replica(ns, 'replica-a')), run(ns, replica(ns, 'replica-b'))]);
    const identity = new Map([[a, 'replica-a'], [b, 'replica-b']]);

    const leader = await eventually(() => {
      const leaders = [a, b].filter((c) => c.manager.isLeader);
      expect(leaders).toHaveLength(1);
      return leaders[0];
    }, { timeoutMs: T });
    const follower = leader === a ? b : a;
    const lease = await mustGet('Lease', ns, LEASE_NAME);
    expect(lease.spec.holderIdentity).toBe(identity.get(leader));

    const cr = await create(ns, 'Agent', 'first', agentSpec());
    const dep = await eventually(() => mustGet('Deployment', ns, 'agent-first'), { timeoutMs: T });
    expect(dep.metadata.ownerReferences[0].uid).toBe(cr.metadata.uid);
    await eventually(async () => expect((await mustGet('Agent', ns, 'first')).status?.observedGeneration).toBe(1), { timeoutMs: T });

    expect(await reconciles(leader)).toBeGreaterThan(0);
    expect(await reconciles(follower)).toBe(0);
    // The follower saw the Agent (its cache is warm for a takeover) but did nothing with it. Its only
    // possible write is a Lease create that lost the race against the leader's.
    expect(follower.manager.cached('Agent', ns, 'first')).toBeDefined();
    expect(follower.client.counts.writes).toBeLessThanOrEqual(1);
    expect([a, b].filter((c) => c.manager.isLeader)).toEqual([leader]);
    expect((await mustGet('Lease', ns, LEASE_NAME)).spec.holderIdentity).toBe(identity.get(leader));

    // stop() releases the Lease: the follower need not wait for it to expire.
    const writesBefore = follower.client.counts.writes;
    await scenarios.stop(leader);
    await eventually(() => expect(follower.manager.isLeader).toBe(true), { timeoutMs: T });
    const taken = await mustGet('Lease', ns, LEASE_NAME);
    expect(taken.spec.holderIdentity).toBe(identity.get(follower));
    expect(taken.spec.leaseTransitions).toBe((lease.spec.leaseTransitions ?? 0) + 1);

    await create(ns, 'Agent', 'second', agentSpec());
    await eventually(() => mustGet('Deployment', ns, 'agent-second'), { timeoutMs: T });
    await eventually(async () => expect((await mustGet('Agent', ns, 'second')).status?.observedGeneration).toBe(1), { timeoutMs: T });
    expect(await reconciles(follower)).toBeGreaterThan(0);
    expect(follower.client.counts.writes).toBeGreaterThan(writesBefore);
    // The first Agent's children were the old leader's work; the new one keeps them.
    expect((await mustGet('Deployment', ns, 'agent-first')).metadata.uid).toBe(dep.metadata.uid);
  }, T * 3);

  test('the Lease of a replica that died is taken over once it expires', async () => {
    const ns = await namespace('ha-expired');
    const long = new Date(Date.now() - 60_000);
    await kube.request('POST', path('Lease', ns), {
      body: {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LEASE_NAME },
        spec: { holderIdentity: 'replica-gone', leaseDurationSeconds: 3, acquireTime: micro(long), renewTime: micro(long), leaseTransitions: 4 },
      },
    });
    await create(ns, 'Agent', 'e', agentSpec());

    const c = await run(ns, replica(ns, 'replica-new'));
    await eventually(() => expect(c.manager.isLeader).toBe(true), { timeoutMs: T });
    const lease = await mustGet('Lease', ns, LEASE_NAME);
    expect(lease.spec.holderIdentity).toBe('replica-new');
    expect(lease.spec.leaseTransitions).toBe(5);
    expect(Date.parse(lease.spec.acquireTime)).toBeGreaterThan(long.getTime());
    await eventually(() => mustGet('Deployment', ns, 'agent-e'), { timeoutMs: T });
  }, T * 2);

  test('a Lease another replica keeps renewing is not taken; once it stops renewing, it is', async () => {
    const ns = await namespace('ha-held');
    await kube.request('POST', path('Lease', ns), {
      body: {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LEASE_NAME },
        spec: { holderIdentity: 'replica-live', leaseDurationSeconds: 3, acquireTime: micro(new Date()), renewTime: micro(new Date()), leaseTransitions: 0 },
      },
    });
    // The live replica: renews every 300 ms for as long as it still holds the Lease.
    let renewing = true;
    let lost: string | undefined;
    const heartbeat = (async () => {
      while (renewing) {
        const lease = await kube.request('GET', path('Lease', ns, LEASE_NAME));
        if (lease.spec.holderIdentity !== 'replica-live') { lost = `taken by ${lease.spec.holderIdentity}`; return; }
        await kube.request('PUT', path('Lease', ns, LEASE_NAME), { body: { ...lease, spec: { ...lease.spec, renewTime: micro(new Date()) } } });
        await sleep(300);
      }
    })().catch((err) => { lost = `renewal failed: ${(err as Error).message}`; });

    try {
      const c = await run(ns, replica(ns, 'replica-waiting'));
      await create(ns, 'Agent', 'w', agentSpec());
      // Two lease durations: a candidate that ignored the renewals would have taken the Lease by then.
      expect(await everWithin(6000, () => c.manager.isLeader)).toBe(false);
      expect(lost).toBeUndefined();
      expect((await mustGet('Lease', ns, LEASE_NAME)).spec.holderIdentity).toBe('replica-live');
      expect(await get('Deployment', ns, 'agent-w')).toBeUndefined();
      expect(await reconciles(c)).toBe(0);
      expect(c.client.counts.writes).toBe(0);

      renewing = false;
      await heartbeat;
      await eventually(() => expect(c.manager.isLeader).toBe(true), { timeoutMs: T });
      const lease = await mustGet('Lease', ns, LEASE_NAME);
      expect(lease.spec.holderIdentity).toBe('replica-waiting');
      expect(lease.spec.leaseTransitions).toBe(1);
      await eventually(() => mustGet('Deployment', ns, 'agent-w'), { timeoutMs: T });
    } finally {
      renewing = false;
      await heartbeat;
    }
  }, T * 2);
});

describe('the installed ServiceAccount and RBAC', () => {
  /** Applies the install rendered for `ns` (cluster-scoped names made unique to it) and returns a token of its ServiceAccount. */
  async function install(ns: string): Promise<string> {
    clusterObjects.push(...await applyInstallRbac(kube, ns));
    return serviceAccountToken(kube, ns, CONTROLLER_NAME);
  }

  test('the CRDs of the install are the ones installed', async () => {
    const crds = renderInstall().filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['agents', 'clientinstances', 'clientpools', 'mcpservers', 'modelaccesses', 'modelapis', 'modelroutes'].map((p) => `${p}.agentway.dev`));
    for (const crd of crds) {
      const live = await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      expect(mismatches(crdForKube120(crd as Obj).spec, live.spec)).toEqual([]);
    }
  });

  test('the controller works as the ServiceAccount, with nothing more than the rendered RBAC', async () => {
    const ns = await namespace('ha-rbac');
    const token = await install(ns);
    const review = await kube.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    expect(review.status).toMatchObject({ authenticated: true, user: { username: `system:serviceaccount:${ns}:${CONTROLLER_NAME}` } });
    const kc = kubeConfigWithToken(token, CONTROLLER_NAME);
    const sa = new KubeClient(kc);
    clients.push(sa);
    // The authorizer learns of new bindings through its own watch: wait until it has.
    await eventually(async () => {
      await sa.request('GET', path('Agent', ns));
      await sa.request('GET', path('Lease', ns));
    }, { timeoutMs: T });

    const ctl = await run(ns, { kubeConfig: kc, ...replica(ns, 'agentway-controller-0') });
    await eventually(() => expect(ctl.manager.isLeader).toBe(true), { timeoutMs: T });
    expect((await mustGet('Lease', ns, LEASE_NAME)).spec.holderIdentity).toBe('agentway-controller-0');

    // A dangling reference: status and an Event, both written by the ServiceAccount.
    await create(ns, 'Agent', 'a', agentSpec({ modelAPI: 'llm' }));
    await eventually(async () => {
      expect(cond(await get('Agent', ns, 'a'), 'Ready')).toMatchObject({ status: 'False', reason: 'ModelAPINotFound' });
      const events = await kube.request('GET', path('Event', ns), { query: { fieldSelector: 'involvedObject.name=a' } });
      expect(events.items).toContainEqual(expect.objectContaining({ reason: 'ModelAPINotFound', reportingInstance: 'agentway-controller-0' }));
    }, { timeoutMs: T });

    await create(ns, 'ModelAPI', 'llm', agentSpec({
      pools: [{ name: 'gpu', replicas: 1, resources: { gpu: 1 } }, { name: 'cpu', replicas: 1, resources: { cpu: '2' } }],
    }));
    await eventually(async () => {
      for (const name of ['agent-a', 'modelapi-llm-gpu', 'modelapi-llm-cpu']) {
        await mustGet('Deployment', ns, name);
        await mustGet('Service', ns, name);
      }
      await mustGet('HTTPRoute', ns, 'agent-a');
      await mustGet('HTTPRoute', ns, 'modelapi-llm');
      await mustGet('Gateway', ns, 'agentway-gateway');
      expect(cond(await get('Agent', ns, 'a'), 'Ready')).toMatchObject({ reason: 'NoReadyBackends' });
      expect(cond(await get('ModelAPI', ns, 'llm'), 'Ready')).toMatchObject({ reason: 'NoReadyBackends' });
    }, { timeoutMs: T });

    await kube.request('PATCH', path('ModelAPI', ns, 'llm'), {
      contentType: 'application/merge-patch+json', body: { spec: { pools: [{ name: 'cpu', replicas: 1, resources: { cpu: '2' } }] } },
    });
    await eventually(async () => {
      expect(await get('Deployment', ns, 'modelapi-llm-gpu')).toBeUndefined();
      expect(await get('Service', ns, 'modelapi-llm-gpu')).toBeUndefined();
      await mustGet('Deployment', ns, 'modelapi-llm-cpu');
    }, { timeoutMs: T });
    expect(await reconciles(ctl)).toBeGreaterThan(0);

    // Without --namespace the controller watches every namespace: the ClusterRole allows that.
    for (const p of ['/apis/agentway.dev/v1alpha1/agents', '/apis/apps/v1/deployments', '/apis/gateway.networking.k8s.io/v1/httproutes']) {
      await expect(sa.request('GET', p)).resolves.toMatchObject({ items: expect.any(Array) });
    }
    // Nothing outside the rendered rules.
    const status = (p: Promise<unknown>) => p.then(() => 200, (err) => (err instanceof ApiError ? err.status : String(err)));
    expect(await status(sa.request('GET', '/api/v1/secrets'))).toBe(403);
    expect(await status(sa.request('GET', '/api/v1/namespaces/default/configmaps'))).toBe(403);
    expect(await status(sa.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `escalate-${ns}` }, rules: [] },
    }))).toBe(403);
    expect(await status(sa.request('DELETE', path('Agent', ns, 'a')))).toBe(403);
    // The Lease Role is namespaced: no Lease elsewhere.
    expect(await status(sa.request('GET', path('Lease', 'default')))).toBe(403);
  }, T * 3);
});

describe('parity with synth', () => {
  const SERVER_METADATA = new Set(['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink']);
  /** Annotations written by controllers of kube-controller-manager. */
  const SERVER_ANNOTATIONS = new Set(['deployment.kubernetes.io/revision']);

  test('for the examples, the controller applies what synth renders, plus ownership', async () => {
    const ns = await namespace('ha-parity');
    const dir = join(repoRoot, 'examples');
    const docs: { source: string; doc: Obj }[] = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()
      .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d, i) => ({ source: `examples/${f}#${i}`, doc: d.toJS() as Obj })));
    // Ours, moved to the test namespace; synth passes over the others (an Argo CD Application, say).
    const isOurs = (d: { doc: Obj }) => String(d.doc.apiVersion).startsWith('agentway.dev/');
    const ours = docs.filter(isOurs).map((d): { source: string; doc: Obj } => ({ ...d, doc: { ...d.doc, metadata: { ...d.doc.metadata, namespace: ns } } }));
    const others = docs.filter((d) => !isOurs(d));
    expect(ours.map((d) => d.doc.kind)).toEqual(expect.arrayContaining(['Agent', 'ClientPool', 'MCPServer', 'ModelAPI']));

    // The route server in the CRs' namespace: no ReferenceGrant, which this 1.20 apiserver cannot store.
    const config = renderConfig({ gateway: { namespace: ns, create: true }, routeServer: { namespace: ns } });
    const synth = synthesize([...ours, ...others], config);
    expect(synth.errors).toEqual([]);
    expect(synth.skipped).toEqual(others.map((d) => d.source));
    const expected: { obj: Obj; owner?: Obj }[] = [];
    for (const [file, text] of synth.files) {
      const owner = ours.find((d) => file === `${ns}.${String(d.doc.kind).toLowerCase()}.${d.doc.metadata.name}.yaml`)?.doc;
      expect(owner !== undefined || file === SHARED_FILE).toBe(true);
      for (const d of parseAllDocuments(text)) {
        const obj = d.toJS() as Obj;
        // A ModelRoute renders nothing: synth writes the CR itself, which the test creates rather than the controller.
        if (obj.metadata.namespace === ns && obj.kind !== 'ModelRoute') expected.push({ obj, owner });
      }
    }
    expect(expected.map((e) => e.obj.kind)).not.toContain('ReferenceGrant');
    expect(expected.length).toBeGreaterThan(ours.length);

    await run(ns);
    const uids = new Map<string, string>();
    for (const { doc } of ours) {
      const created = await kube.request('POST', path(doc.kind, ns), { body: doc });
      uids.set(`${doc.kind}/${doc.metadata.name}`, created.metadata.uid);
    }

    const livePath = (o: Obj) => resourcePath(resourceType(o.apiVersion, o.kind), ns, o.metadata.name);
    // Route weights are where the controller departs from synth by design (DESIGN §4): synth weighs pools by
    // their replicas, the controller by live capacity, which it reports per pool in the CR's status.
    const poolOfService = new Map(expected.filter((e) => e.obj.kind === 'Service').map((e) => [e.obj.metadata.name, e.obj.metadata.labels?.[LABELS.pool]]));
    const withLiveWeights = (route: Obj, owner: Obj): Obj => {
      const weights = new Map((owner.status?.pools ?? []).map((p: Obj) => [p.name, p.weight]));
      const rules = route.spec.rules.map((r: Obj) => ({
        ...r,
        backendRefs: r.backendRefs?.map((b: Obj) => {
          const pool = poolOfService.get(b.name);
          return weights.has(pool) ? { ...b, weight: weights.get(pool) } : b;
        }),
      }));
      return { ...route, spec: { ...route.spec, rules } };
    };
    await eventually(async () => {
      for (const { obj, owner } of expected) {
        const live = await kube.request('GET', livePath(obj)).catch(ignoreNotFound);
        const want = obj.kind === 'HTTPRoute' && owner ? withLiveWeights(obj, await mustGet(owner.kind, ns, owner.metadata.name)) : obj;
        expect([`${obj.kind}/${obj.metadata.name}`, mismatches(want, live)]).toEqual([`${obj.kind}/${obj.metadata.name}`, []]);
      }
    }, { timeoutMs: T });

    for (const { obj, owner } of expected) {
      const live = await kube.request('GET', livePath(obj));
      const what = `${obj.kind}/${obj.metadata.name}`;
      const extra = (want: Obj | undefined, got: Obj | undefined) => Object.keys(got ?? {}).filter((k) => !(k in (want ?? {}))).sort();
      const ownership = owner ? ['ownerReferences'] : [];
      expect([what, extra(obj.metadata, live.metadata).filter((k) => !SERVER_METADATA.has(k) && k !== 'annotations')]).toEqual([what, ownership]);
      expect([what, extra(obj.metadata.labels, live.metadata.labels)]).toEqual([what, owner ? [PART_OF_LABEL] : []]);
      expect([what, extra(obj.metadata.annotations, live.metadata.annotations).filter((k) => !SERVER_ANNOTATIONS.has(k))]).toEqual([what, []]);
      if (owner) {
        const uid = uids.get(`${owner.kind}/${owner.metadata.name}`);
        expect(live.metadata.labels[PART_OF_LABEL]).toBe(uid);
        expect(live.metadata.ownerReferences).toEqual([{
          apiVersion: 'agentway.dev/v1alpha1', kind: owner.kind, name: owner.metadata.name, uid, controller: true, blockOwnerDeletion: true,
        }]);
      }
    }

    // And nothing besides: every object of ours in the namespace is one synth renders.
    const kinds = [...new Set(expected.map((e) => `${e.obj.apiVersion} ${e.obj.kind}`))];
    const live: string[] = [];
    for (const k of kinds) {
      const [apiVersion, kind] = k.split(' ');
      const list = await kube.request('GET', resourcePath(resourceType(apiVersion, kind), ns), { query: { labelSelector: `${LABELS.managedBy}=${MANAGED_BY}` } });
      live.push(...list.items.map((o: Obj) => `${kind}/${o.metadata.name}`));
    }
    expect(live.sort()).toEqual(expected.map((e) => `${e.obj.kind}/${e.obj.metadata.name}`).sort());
  }, T * 2);
});
