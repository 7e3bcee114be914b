/**
 * The route server as it runs in a cluster: the `agentway route-server` process, with its own
 * ServiceAccount and nothing but the RBAC that `install` and its ClientPools render, next to a controller
 * that runs as its own ServiceAccount. An abuse corpus (test/data/route-server-abuse.json) is thrown at it,
 * and it must answer each request as the corpus says and live on; it must read no Secret but its pools'.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { INVALID_CLIENT_ID } from '../../controller/route-server/api-keys.js';
import { CONTROLLER_NAME, ROUTE_SERVER_NAME } from '../../manifests/defaults.js';
import { CliProcess, startCli } from '../env/cli-process.js';
import { TestController, startController, testClient } from '../env/controller.js';
import { applyInstallRbac, kubeConfigWithToken, serviceAccountToken, writeKubeconfigWithToken } from '../env/install-rbac.js';
import { deleteNamespace, eventually, newNamespace } from '../env/kube.js';
import { ignoreNotFound } from '../env/objects.js';

const T = 60_000;
const ROOT = process.cwd();
const KEY = 'ak-alice-abuse-0123456789';
const CAROL_KEY = 'ak-carol-bad-id-4242';

interface AbuseCase {
  readonly name: string;
  readonly method?: string;
  readonly target?: string;
  readonly headers?: Record<string, string> | Array<[string, string]>;
  readonly body?: string;
  readonly raw?: string;
  readonly status: number;
}
const CORPUS: { cases: AbuseCase[] } = JSON.parse(readFileSync(path.join(ROOT, 'test/data/route-server-abuse.json'), 'utf8'));

let kube: KubeClient;
let ns: string;
let clusterObjects: string[] = [];
let controller: TestController;
let routeServerSa: KubeClient;
let routeServer: CliProcess;
let port = 0;
let tmp: string;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const status = (p: Promise<unknown>) => p.then(() => 200, (err) => (err instanceof ApiError ? err.status : String(err)));

/** Starts `agentway route-server` with the ServiceAccount's kubeconfig; resolves once it serves. */
function startRouteServer(kubeconfig: string): Promise<CliProcess> {
  return startCli(['route-server', '--kubeconfig', kubeconfig, '--namespace', ns,
    '--host', '127.0.0.1', '--port', '0', '--headers-timeout', '1', '--request-timeout', '2', '--reap-interval', '3600',
  ], { startedMessage: 'route server started' });
}

beforeAll(async () => {
  kube = testClient();
  ns = await newNamespace('rs-abuse');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentway-rs-abuse-'));
  clusterObjects = await applyInstallRbac(kube, ns);
  await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sandbox-keys' }, data: { alice: b64(KEY) } },
  });
  await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated' }, data: { password: b64('not for the route server') } },
  });
  await kube.request('POST', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/clientpools`, {
    body: {
      apiVersion: 'agentway.dev/v1alpha1', kind: 'ClientPool', metadata: { name: 'sandbox' },
      spec: { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'sandbox-keys' } } },
    },
  });

  const controllerKc = kubeConfigWithToken(await serviceAccountToken(kube, ns, CONTROLLER_NAME));
  const controllerSa = new KubeClient(controllerKc);
  // The authorizer learns of new bindings through its own watch: wait until it has.
  await eventually(() => controllerSa.request('GET', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/clientpools`), { timeoutMs: T });
  controllerSa.close();
  controller = await startController(ns, { kubeConfig: controllerKc });

  const token = await serviceAccountToken(kube, ns, ROUTE_SERVER_NAME);
  routeServerSa = new KubeClient(kubeConfigWithToken(token));
  // The pool's Role, applied by the controller as its ServiceAccount, lets the route server read the keys.
  await eventually(() => routeServerSa.request('GET', `/api/v1/namespaces/${ns}/secrets/sandbox-keys`), { timeoutMs: T });
  const kubeconfig = path.join(tmp, 'route-server.kubeconfig');
  writeKubeconfigWithToken(kubeconfig, token);
  routeServer = await startRouteServer(kubeconfig);
  port = routeServer.started.port;
}, T * 2);

afterAll(async () => {
  if (process.env.AGENTWAY_TEST_LOG_LEVEL) process.stderr.write(`route server log:\n${routeServer?.log.join('\n')}\n`);
  await routeServer?.stop();
  await controller?.stop();
  routeServerSa?.close();
  for (const p of clusterObjects) await kube.request('DELETE', p).catch(ignoreNotFound);
  await deleteNamespace(ns);
  kube.close();
  rmSync(tmp, { recursive: true, force: true });
});

const fill = (s: string) => s
  .replaceAll('{key}', KEY).replaceAll('{ns}', ns).replaceAll('{long}', 'k'.repeat(8192)).replaceAll('{huge}', 'x'.repeat(20_000));

/** The request of a corpus case, as bytes on the wire. */
function wire(c: AbuseCase): Buffer {
  if (c.raw !== undefined) return Buffer.from(fill(c.raw), 'utf8');
  const headers: Array<[string, string]> = Array.isArray(c.headers) ? c.headers : Object.entries(c.headers ?? {});
  const body = c.body === undefined ? '' : fill(c.body);
  const lines = [
    `${c.method ?? 'GET'} ${fill(c.target ?? '/')} HTTP/1.1`, 'Host: route-server', 'Connection: close',
    ...headers.map(([k, v]) => `${k}: ${fill(v)}`),
    ...(c.body === undefined ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

/**
 * Sends `bytes` on a fresh connection and reads until the server closes it (every request says
 * `Connection: close`; the client does not half-close, as a real one would not, since the server would then
 * abandon the request); the status of the answer, 0 when the connection closed without one.
 */
function exchange(bytes: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 20_000);
    socket.on('data', (d) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(bytes);
  });
}

describe('the route server process, as its own ServiceAccount', () => {
  test('binds the address it is given', () => {
    expect(routeServer.started).toMatchObject({ address: '127.0.0.1', port });
  });

  test('reads the key Secret of its pools, and no other Secret', async () => {
    expect(await status(routeServerSa.request('GET', '/api/v1/secrets'))).toBe(403);
    expect(await status(routeServerSa.request('GET', `/api/v1/namespaces/${ns}/secrets`))).toBe(403);
    expect(await status(routeServerSa.request('GET', `/api/v1/namespaces/${ns}/secrets/unrelated`))).toBe(403);
    expect(await status(routeServerSa.request('GET', '/api/v1/namespaces/kube-system/secrets'))).toBe(403);
    expect(await status(routeServerSa.request('GET', `/api/v1/namespaces/${ns}/secrets/sandbox-keys`))).toBe(200);
    const listed = await routeServerSa.request('GET', `/api/v1/namespaces/${ns}/secrets`, { query: { fieldSelector: 'metadata.name=sandbox-keys' } });
    expect(listed.items.map((s: { metadata: { name: string } }) => s.metadata.name)).toEqual(['sandbox-keys']);
  });

  test(`answers each of the ${CORPUS.cases.length} requests of the abuse corpus as it says, and lives on`, async () => {
    expect(CORPUS.cases.length).toBeGreaterThanOrEqual(50);
    const wrong: Array<{ name: string; want: number; got: number }> = [];
    for (const c of CORPUS.cases) {
      const { status: got } = await exchange(wire(c));
      if (got !== c.status) wrong.push({ name: c.name, want: c.status, got });
    }
    expect(wrong).toEqual([]);
    expect(routeServer.child.exitCode).toBeNull();
    expect((await exchange(wire({ name: 'health', target: '/healthz', status: 200 }))).status).toBe(200);
    const fresh = await exchange(wire({ name: 'valid', target: '/api/route', headers: { 'X-Forwarded-Uri': `/api/v1/${KEY}/instance/after-abuse/` }, status: 202 }));
    expect(fresh.status).toBe(202);
  }, T * 2);

  test('a client that does not finish its headers in time is answered 408 and cut off', async () => {
    const { status: got } = await exchange(Buffer.from('GET /healthz HTTP/1.1\r\nHost: route-server\r\nX-Slow: 1\r\n'));
    expect(got).toBe(408);
    expect(routeServer.child.exitCode).toBeNull();
  }, T);

  test('a client id in the keys Secret that is not a DNS label is refused, with an Event on the pool', async () => {
    await kube.request('PATCH', `/api/v1/namespaces/${ns}/secrets/sandbox-keys`, {
      contentType: 'application/merge-patch+json', body: { data: { Carol_1: b64(CAROL_KEY) } },
    });
    await eventually(async () => {
      const events = await kube.request('GET', `/api/v1/namespaces/${ns}/events`, { query: { fieldSelector: 'involvedObject.name=sandbox' } });
      const event = events.items.find((e: { reason: string }) => e.reason === INVALID_CLIENT_ID);
      expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'ClientPool', name: 'sandbox' }, message: expect.stringContaining('"Carol_1"') });
    }, { timeoutMs: T });
    const answer = await exchange(wire({ name: 'carol', target: '/api/route', headers: { 'X-Forwarded-Uri': `/api/v1/${CAROL_KEY}/instance/one/` }, status: 401 }));
    expect(answer.status).toBe(401);
    // The other clients of the Secret are still served.
    const alice = await exchange(wire({ name: 'alice', target: '/api/route', headers: { 'X-Forwarded-Uri': `/api/v1/${KEY}/instance/after-abuse/` }, status: 202 }));
    expect(alice.status).toBe(202);
  }, T * 2);
});
