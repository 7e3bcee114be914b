/**
 * The route server on the real control plane, with the controller rendering the instances it creates:
 * every status code, provisioning under concurrency, quotas, the Pending → Ready flip, activity and idle
 * deletion, and API keys that never reach a log line, an object name or a label.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { RouteServer } from '../../controller/route-server/server.js';
import { clientInstanceName } from '../../manifests/names.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { deleteNamespace, eventually, kubeConfig, markPodsReady, newNamespace } from '../env/kube.js';

const T = 60_000;
type Obj = Record<string, any>;

const KEYS = { alice: 'ak-alice-0123456789abcdef', bob: 'ak-bob-fedcba9876543210', carol: 'ak-carol-55555555', dave: 'ak-dave-short-pool-1' };
/** Clients of the pool "team" whose ids, joined naively with their instance ids, would give one name. */
const TEAM_KEYS = { alice: 'ak-team-alice-777777', 'alice-dev': 'ak-team-alice-dev-888888' };
let kube: KubeClient;
let ns: string;
let controller: TestController;
let serverClient: KubeClient;
let server: RouteServer;
let echo: http.Server;
const logLines: string[] = [];

const instancesPath = () => `/apis/agentway.dev/v1alpha1/namespaces/${ns}/clientinstances`;

async function createPool(name: string, secret: string, keys: Record<string, string>, spec: Obj): Promise<void> {
  await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
    body: {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: secret },
      data: Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    },
  });
  await kube.request('POST', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/clientpools`, {
    body: {
      apiVersion: 'agentway.dev/v1alpha1', kind: 'ClientPool', metadata: { name },
      spec: { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: secret } }, ...spec },
    },
  });
}

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('route-server');
  const { dave, ...sandboxKeys } = KEYS;
  await createPool('sandbox', 'sandbox-keys', sandboxKeys, { maxInstancesPerClient: 2, maxInstances: 5 });
  await createPool('short', 'short-keys', { dave }, { idleTimeout: '2s' });
  await createPool('team', 'team-keys', TEAM_KEYS, {});
  controller = await startController(ns);
  serverClient = new KubeClient(kubeConfig());
  // Stands in for every instance's Service when the route server forwards a request itself.
  echo = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-From': 'instance' }).end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host }));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
  server = new RouteServer({
    client: serverClient, log: pino({ level: 'debug' }, sink), namespace: ns, port: 0, host: '127.0.0.1',
    activityFlushMs: 500, reapIntervalMs: 300, provisionPerSecond: 1000, provisionBurst: 1000,
    upstream: () => ({ host: '127.0.0.1', port: (echo.address() as AddressInfo).port }),
  });
  await server.start();
}, T);

afterAll(async () => {
  await server.stop();
  await new Promise((r) => echo.close(r));
  await controller.stop();
  serverClient.close();
  await deleteNamespace(ns);
  kube.close();
});

async function forwardAuth(uri: string | undefined, method = 'GET'): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}/api/route`, { method, headers: uri === undefined ? {} : { 'X-Forwarded-Uri': uri } });
}

/** lastActivityTime writes so far: the route server's only writes besides creating instances. */
async function activityWrites(): Promise<number> {
  const m = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  return Number(/agentway_client_activity_writes_total (\d+)/.exec(m)?.[1] ?? 0);
}

const uri = (client: keyof typeof KEYS, instance: string, rest = '/v1/chat') => `/api/v1/${KEYS[client]}/instance/${instance}${rest}`;

async function instances(): Promise<Obj[]> {
  return (await kube.request('GET', instancesPath())).items;
}

describe('route server', () => {
  test('malformed requests are 400, unknown keys 401', async () => {
    expect((await forwardAuth(undefined)).status).toBe(400);
    expect((await forwardAuth('/api/v2/x/instance/y')).status).toBe(400);
    expect((await forwardAuth(uri('alice', 'Bad_Instance'))).status).toBe(400);
    expect((await forwardAuth('/api/v1/not-a-key/instance/one/')).status).toBe(401);
    expect((await forwardAuth(uri('alice', 'one'), 'DELETE')).status).toBe(405);
  });

  test('a first request provisions the instance (202); once its pod is Ready the answer is 200 with the pod headers', async () => {
    const first = await forwardAuth(uri('alice', 'one'), 'POST');
    expect(first.status).toBe(202);
    expect(first.headers.get('x-pod-status')).toBe('provisioning');
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThan(0);

    const inst = await eventually(async () => {
      const list = (await instances()).filter((i) => i.metadata.name === 'sandbox-alice-one');
      expect(list).toHaveLength(1);
      return list[0];
    }, { timeoutMs: T });
    expect(inst.spec).toEqual({ pool: 'sandbox', client: 'alice', instance: 'one' });
    expect((await forwardAuth(uri('alice', 'one'))).status).toBe(202);

    // The controller renders its Deployment; the real ReplicaSet controller makes the pod; we mark it Ready.
    await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'client-sandbox-alice-one' }), { timeoutMs: T });
    const ready = await eventually(async () => {
      const r = await forwardAuth(uri('alice', 'one'));
      expect(r.status).toBe(200);
      return r;
    }, { timeoutMs: T });
    expect(ready.headers.get('x-pod-service')).toBe('client-sandbox-alice-one');
    expect(ready.headers.get('x-pod-namespace')).toBe(ns);
    expect(ready.headers.get('x-pod-port')).toBe('8080');

    // Answers about an existing instance come from the cache: no API call. (The only writes meanwhile are
    // the activity flushes, which run on their own timer.)
    const before = { ...serverClient.counts };
    const flushesBefore = await activityWrites();
    for (let i = 0; i < 100; i++) expect((await forwardAuth(uri('alice', 'one'))).status).toBe(200);
    expect(serverClient.counts.reads).toBe(before.reads);
    expect(serverClient.counts.writes - before.writes).toBe((await activityWrites()) - flushesBefore);

    // Activity reaches the status, at most every flush interval.
    await eventually(async () => {
      const got = await kube.request('GET', `${instancesPath()}/sandbox-alice-one`);
      expect(Date.parse(got.status?.lastActivityTime)).toBeGreaterThan(Date.parse(inst.metadata.creationTimestamp) - 1000);
    }, { timeoutMs: T });
  }, T * 3);

  test('a request sent to the route server itself is forwarded to the ready instance, without the key in its path', async () => {
    const r = await fetch(`http://127.0.0.1:${server.port}${uri('alice', 'one', '/v1/chat?stream=true')}`, { method: 'POST', body: '{}' });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-from')).toBe('instance');
    const seen = await r.json() as Obj;
    expect(seen).toEqual({ method: 'POST', url: '/v1/chat?stream=true', host: expect.stringContaining('127.0.0.1') });
    // Not ready yet, unknown key, malformed: the forwardAuth answers.
    expect((await fetch(`http://127.0.0.1:${server.port}${uri('bob', 'fresh')}`)).status).toBe(202);
    expect((await fetch(`http://127.0.0.1:${server.port}/api/v1/nope/instance/one/`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${server.port}/api/v1/${KEYS.alice}/other`)).status).toBe(400);
  }, T);

  test('50 simultaneous first requests create exactly one ClientInstance', async () => {
    const writesBefore = serverClient.counts.writes;
    const flushesBefore = await activityWrites();
    const answers = await Promise.all(Array.from({ length: 50 }, () => forwardAuth(uri('bob', 'burst'))));
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(202));
    // Writes other than the one create are activity flushes; one may still be in flight when counted.
    await eventually(async () => expect(serverClient.counts.writes - writesBefore - ((await activityWrites()) - flushesBefore)).toBe(1), { timeoutMs: 5000 });
    await eventually(async () => expect((await instances()).filter((i) => i.spec.instance === 'burst')).toHaveLength(1), { timeoutMs: T });
  }, T);

  test('quotas: maxInstancesPerClient and maxInstances answer 429', async () => {
    expect((await forwardAuth(uri('carol', 'c1'))).status).toBe(202);
    expect((await forwardAuth(uri('carol', 'c2'))).status).toBe(202);
    const perClient = await forwardAuth(uri('carol', 'c3'));
    expect(perClient.status).toBe(429);
    expect(await perClient.text()).toContain('maxInstancesPerClient');
    // alice-one, bob-fresh, bob-burst, carol-c1, carol-c2: the pool's 5 are taken.
    const perPool = await forwardAuth(uri('alice', 'two'));
    expect(perPool.status).toBe(429);
    expect(await perPool.text()).toContain('maxInstances');
    // An existing instance is still served.
    expect((await forwardAuth(uri('carol', 'c1'))).status).toBe(202);
  }, T);

  test('clients whose ids and instance ids join to the same text get distinct instances', async () => {
    const ask = (client: keyof typeof TEAM_KEYS, instance: string) => forwardAuth(`/api/v1/${TEAM_KEYS[client]}/instance/${instance}/`);
    expect((await ask('alice', 'dev-one')).status).toBe(202);
    expect((await ask('alice-dev', 'one')).status).toBe(202);
    await eventually(async () => {
      const team = (await instances()).filter((i) => i.spec.pool === 'team').map((i) => i.spec);
      expect(team).toEqual(expect.arrayContaining([
        { pool: 'team', client: 'alice', instance: 'dev-one' },
        { pool: 'team', client: 'alice-dev', instance: 'one' },
      ]));
      expect(new Set(team.map((t) => `${t.client}/${t.instance}`)).size).toBe(team.length);
    }, { timeoutMs: T });
  }, T);

  test('an instance is served only to the client its spec names, whatever its name', async () => {
    // Someone else's ClientInstance, under the name alice's instance "taken" would have.
    const name = clientInstanceName('team', 'alice', 'taken');
    await kube.request('POST', instancesPath(), {
      body: { apiVersion: 'agentway.dev/v1alpha1', kind: 'ClientInstance', metadata: { name }, spec: { pool: 'team', client: 'alice-dev', instance: 'taken' } },
    });
    await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': `client-${name}` }), { timeoutMs: T });
    const answer = await eventually(async () => {
      const r = await forwardAuth(`/api/v1/${TEAM_KEYS.alice}/instance/taken/`);
      expect(r.status).toBe(409);
      return r;
    }, { timeoutMs: T });
    expect(answer.headers.get('x-pod-service')).toBeNull();
    const gateway = await fetch(`http://127.0.0.1:${server.port}/${ns}/client/team/alice/taken/`, { headers: { Authorization: `Bearer ${TEAM_KEYS.alice}` } });
    expect(gateway.status).toBe(409);
  }, T * 2);

  test('a ready answer kept in memory lasts only as long as its instance: deleted, the instance is provisioned again', async () => {
    const teamUri = (instance: string) => `/api/v1/${TEAM_KEYS.alice}/instance/${instance}/`;
    const name = clientInstanceName('team', 'alice', 'kept');
    expect((await forwardAuth(teamUri('kept'))).status).toBe(202);
    await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': `client-${name}` }), { timeoutMs: T });
    await eventually(async () => expect((await forwardAuth(teamUri('kept'))).status).toBe(200), { timeoutMs: T });
    const again = await forwardAuth(teamUri('kept'));
    expect(again.status).toBe(200);
    expect(again.headers.get('x-pod-service')).toBe(`client-${name}`);

    await kube.request('DELETE', `${instancesPath()}/${name}`);
    await eventually(async () => expect((await forwardAuth(teamUri('kept'))).status).toBe(202), { timeoutMs: T });
  }, T * 3);

  test('the Gateway-native catch-all path needs the client key and answers 503 with Retry-After', async () => {
    const url = (pool: string, client: string, instance: string) => `http://127.0.0.1:${server.port}/${ns}/client/${pool}/${client}/${instance}/v1/chat`;
    expect((await fetch(url('short', 'dave', 'g1'))).status).toBe(401);
    // A valid key of another client is no key for this one.
    expect((await fetch(url('short', 'dave', 'g1'), { headers: { Authorization: `Bearer ${KEYS.bob}` } })).status).toBe(401);
    const r = await fetch(url('short', 'dave', 'g1'), { headers: { Authorization: `Bearer ${KEYS.dave}` } });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBeTruthy();
    await eventually(async () => expect((await instances()).map((i) => i.metadata.name)).toContain('short-dave-g1'), { timeoutMs: T });
    // Its own HTTPRoute, rendered by the controller, takes over the path once the Gateway programs it.
    await eventually(async () => {
      const route = await kube.request('GET', `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/client-short-dave-g1`);
      expect(route.spec.rules[0].matches[0].path.value).toBe(`/${ns}/client/short/dave/g1`);
    }, { timeoutMs: T });
  }, T * 2);

  test('an instance idle longer than its pool idleTimeout is deleted, and its children with it', async () => {
    expect((await forwardAuth(`/api/v1/${KEYS.dave}/instance/idle/`)).status).toBe(202);
    await eventually(async () => {
      const deps = await kube.request('GET', `/apis/apps/v1/namespaces/${ns}/deployments`);
      expect(deps.items.map((d: Obj) => d.metadata.name)).toContain('client-short-dave-idle');
    }, { timeoutMs: T });
    // No further requests: after 2 s idle the instance goes, and the garbage collector takes its Deployment.
    await eventually(async () => {
      expect((await instances()).map((i) => i.metadata.name)).not.toContain('short-dave-idle');
      const deps = await kube.request('GET', `/apis/apps/v1/namespaces/${ns}/deployments`);
      expect(deps.items.map((d: Obj) => d.metadata.name)).not.toContain('client-short-dave-idle');
    }, { timeoutMs: T });
    // Instances of the 30 min pool stay.
    expect((await instances()).map((i) => i.metadata.name)).toContain('sandbox-alice-one');
  }, T * 3);

  test('provisioning is rate limited per pool: past the burst, new instances get 429 with Retry-After', async () => {
    const limited = new RouteServer({
      client: serverClient, log: pino({ level: 'silent' }), namespace: ns, port: 0, host: '127.0.0.1',
      provisionPerSecond: 0.001, provisionBurst: 1,
    });
    await limited.start();
    try {
      const ask = (instance: string) => fetch(`http://127.0.0.1:${limited.port}/api/route`, { headers: { 'X-Forwarded-Uri': `/api/v1/${KEYS.dave}/instance/${instance}/` } });
      expect((await ask('rate-a')).status).toBe(202);
      const second = await ask('rate-b');
      expect(second.status).toBe(429);
      expect(second.headers.get('retry-after')).toBe('1');
    } finally {
      await limited.stop();
    }
  }, T);

  test('API keys appear in no log line, object name or label', async () => {
    const objects = JSON.stringify([
      await instances(),
      (await kube.request('GET', `/apis/apps/v1/namespaces/${ns}/deployments`)).items.map((d: Obj) => d.metadata),
      (await kube.request('GET', `/api/v1/namespaces/${ns}/services`)).items.map((d: Obj) => d.metadata),
    ]);
    const logs = logLines.join('');
    expect(logLines.length).toBeGreaterThan(0);
    for (const key of [...Object.values(KEYS), ...Object.values(TEAM_KEYS)]) {
      expect(logs).not.toContain(key);
      expect(objects).not.toContain(key);
    }
  });

  test('/healthz and /metrics', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(metrics).toMatch(/agentway_route_requests_total\{endpoint="forwardAuth",code="200"\} \d+/);
    expect(metrics).toMatch(/agentway_client_instances_created_total \d+/);
  });
});
