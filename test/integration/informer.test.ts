/**
 * The informer survives a broken connection: its traffic to the real API server goes through a TCP relay
 * that the test cuts; the informer retries with backoff, relists, and reports what changed meanwhile.
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../controller/kube/informer.js';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { resourceType } from '../../controller/kube/resources.js';
import { testClient } from '../env/controller.js';
import { deleteNamespace, eventually, kubeConfig, newNamespace } from '../env/kube.js';

/** A TCP relay to the API server whose connections can be cut, and which can refuse new ones for a while. */
class Relay {
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;
  public refusing = false;

  public constructor(target: URL) {
    this.server = net.createServer((client) => {
      if (this.refusing) { client.destroy(); return; }
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
  }

  public listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)));
  }

  public cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  public close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let ns: string;
let admin: KubeClient;
let relay: Relay;
let viaRelay: KubeClient;

beforeAll(async () => {
  ns = await newNamespace('informer');
  admin = testClient();
  const cluster = kubeConfig().getCurrentCluster()!;
  relay = new Relay(new URL(cluster.server));
  const port = await relay.listen();
  const kc = new KubeConfig();
  const user = kubeConfig().getCurrentUser()!;
  // The relay forwards TLS untouched: the server certificate is for 127.0.0.1, which is also the relay's address.
  kc.loadFromOptions({
    clusters: [{ name: 'relay', server: `https://127.0.0.1:${port}`, caData: cluster.caData, caFile: cluster.caFile }],
    users: [{ name: 'admin', token: user.token }],
    contexts: [{ name: 'relay', cluster: 'relay', user: 'admin' }],
    currentContext: 'relay',
  });
  viaRelay = new KubeClient(kc);
});

afterAll(async () => {
  viaRelay.close();
  await relay.close();
  admin.close();
  await deleteNamespace(ns);
});

const configMap = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });

test('after its watch breaks and the server is unreachable for a while, the informer recovers and reports every change it missed', async () => {
  await admin.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('before') });
  const informer = new Informer(viaRelay, { type: resourceType('v1', 'ConfigMap'), namespace: ns, log: pino({ level: 'silent' }) });
  const reported = new Map<string, boolean>();
  informer.onChange((key, obj) => reported.set(key, obj !== undefined));
  informer.start();
  await informer.synced;
  expect(informer.get(`${ns}/before`)).toBeDefined();

  // Cut the watch and refuse connections: every retry fails for a few seconds.
  relay.refusing = true;
  relay.cut();
  await admin.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('during') });
  await admin.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/before`);
  await new Promise((r) => setTimeout(r, 3000));
  expect(informer.get(`${ns}/during`)).toBeUndefined();

  relay.refusing = false;
  await eventually(() => {
    expect(informer.get(`${ns}/during`)).toBeDefined();
    expect(informer.get(`${ns}/before`)).toBeUndefined();
    expect(reported.get(`${ns}/during`)).toBe(true);
    expect(reported.get(`${ns}/before`)).toBe(false);
  }, { timeoutMs: 30_000 });

  // And it keeps watching.
  await admin.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: configMap('after') });
  await eventually(() => expect(informer.get(`${ns}/after`)).toBeDefined(), { timeoutMs: 10_000 });
  await informer.stop();
}, 60_000);
