/**
 * What the REST client puts on the wire and reads back, checked against a raw TCP server on loopback that
 * records the bytes of each request and answers with canned HTTP responses.
 */
import net from 'node:net';
import { afterEach, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../controller/kube/informer.js';
import { resourceType } from '../../controller/kube/resources.js';
import { ApiError, KubeClient, errorDetail } from '../../controller/kube/kube-client.js';

interface RawServer {
  readonly port: number;
  /** Bytes received so far, across all connections. */
  received(): string;
  /** First line of each request the server parsed, in order. */
  requestLines(): string[];
  close(): Promise<void>;
}

/** Answers every request it can parse a head of with `answer`, keeping every byte it got. */
async function rawServer(answer: (head: string) => string): Promise<RawServer> {
  let bytes = '';
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let pending = '';
    s.on('data', (d) => {
      bytes += d.toString('latin1');
      pending += d.toString('latin1');
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = pending.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      pending = pending.slice(end + 4 + length);
      lines.push(head.split('\r\n')[0]);
      s.write(answer(head));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => bytes,
    requestLines: () => [...lines],
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

function clientFor(port: number): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'raw', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'raw' }],
    contexts: [{ name: 'raw', cluster: 'raw', user: 'raw' }],
    currentContext: 'raw',
  });
  return new KubeClient(kc);
}

const json = (status: number, body: unknown) => {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup(answer: (head: string) => string): Promise<{ server: RawServer; client: KubeClient }> {
  const server = await rawServer(answer);
  const client = clientFor(server.port);
  cleanup.push(() => client.close(), () => server.close());
  return { server, client };
}

test('a DELETE body goes with a Content-Length that covers it exactly', async () => {
  const { server, client } = await setup(() => json(200, { kind: 'Status', status: 'Success' }));
  const body = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'ü-1' } };
  await client.request('DELETE', '/api/v1/namespaces/a/configmaps/b', { body });

  const sent = server.received();
  const [head, rest] = sent.split('\r\n\r\n');
  const text = JSON.stringify(body);
  expect(head).toMatch(/^DELETE \/api\/v1\/namespaces\/a\/configmaps\/b HTTP\/1\.1\r\n/);
  expect(head).toMatch(new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(text)}(\\r\\n|$)`, 'i'));
  expect(head).not.toMatch(/transfer-encoding/i);
  expect(Buffer.from(rest, 'latin1').toString('utf8')).toBe(text);
});

test('two requests on one keep-alive socket are read as two requests', async () => {
  const { server, client } = await setup(() => json(200, {}));
  await client.request('DELETE', '/api/v1/namespaces/a/configmaps/b', { body: { preconditions: { uid: 'u' } } });
  await client.request('GET', '/api/v1/namespaces/a/configmaps/c');
  expect(server.requestLines()).toEqual([
    'DELETE /api/v1/namespaces/a/configmaps/b HTTP/1.1',
    'GET /api/v1/namespaces/a/configmaps/c HTTP/1.1',
  ]);
});

test('a PATCH body has its Content-Length and content type', async () => {
  const { server, client } = await setup(() => json(200, {}));
  await client.request('PATCH', '/apis/x/v1/namespaces/a/things/b', { body: { a: 1 }, contentType: 'application/apply-patch+yaml' });
  expect(server.received()).toMatch(/\r\nContent-Length: 7\r\n/i);
  expect(server.received()).toMatch(/\r\nContent-Type: application\/apply-patch\+yaml\r\n/i);
});

test('an error names the request and carries the server answer, JSON or plain text', async () => {
  const { client } = await setup((head) => (head.startsWith('PATCH')
    ? json(422, { kind: 'Status', reason: 'Invalid', message: 'spec.replicas: Invalid value' })
    : 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nBad Request'));

  const invalid = await client.request('PATCH', '/apis/apps/v1/namespaces/a/deployments/d', { body: {} }).catch((e: unknown) => e);
  expect(invalid).toBeInstanceOf(ApiError);
  expect((invalid as ApiError).message).toBe('spec.replicas: Invalid value');
  expect(errorDetail(invalid)).toBe('PATCH /apis/apps/v1/namespaces/a/deployments/d: 422 Invalid: spec.replicas: Invalid value');

  const bad = await client.request('GET', '/api/v1/namespaces/a/pods').catch((e: unknown) => e);
  expect(errorDetail(bad)).toBe('GET /api/v1/namespaces/a/pods: 400 HTTP400: Bad Request');
});

test('a watch ERROR event ends the watch with the code and reason of its Status', async () => {
  const events = [
    { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } },
    { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' } },
  ].map((e) => JSON.stringify(e)).join('\n') + '\n';
  const { client } = await setup(() => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${events.length}\r\n\r\n${events}`);
  const seen: string[] = [];
  const err = await client.watch('/api/v1/configmaps', { resourceVersion: '1' }, (e) => seen.push(e.type), new AbortController().signal)
    .then(() => undefined, (e: unknown) => e);
  expect(seen).toEqual(['ADDED']);
  expect(err).toBeInstanceOf(ApiError);
  expect(err).toMatchObject({ status: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' });
});

test('an exception thrown by a watch handler ends the watch with that exception', async () => {
  const line = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n';
  const { client } = await setup(() => `HTTP/1.1 200 OK\r\nContent-Length: ${line.length}\r\n\r\n${line}`);
  const boom = new Error('handler failed');
  const err = await client.watch('/api/v1/configmaps', {}, () => { throw boom; }, new AbortController().signal).then(() => undefined, (e: unknown) => e);
  expect(err).toBe(boom);
});

test('an informer whose watch gets ERROR 410 relists at once, without a warning', async () => {
  let watches = 0;
  const list = { kind: 'ConfigMapList', metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'a', namespace: 'n', resourceVersion: '5' } }] };
  const gone = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' } }) + '\n';
  const { server, client } = await setup((head) => {
    if (!head.includes('watch=true')) return json(200, list);
    // The first watch expires; the next one stays open and silent.
    return ++watches === 1 ? `HTTP/1.1 200 OK\r\nContent-Length: ${gone.length}\r\n\r\n${gone}` : '';
  });
  const warnings: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => { if (JSON.parse(line).level >= 40) warnings.push(line); } });
  const informer = new Informer(client, { type: resourceType('v1', 'ConfigMap'), log });
  informer.start();
  cleanup.unshift(() => informer.stop());
  const lists = () => server.requestLines().filter((l) => !l.includes('watch=true')).length;
  for (let i = 0; i < 200 && (lists() < 2 || watches < 2); i++) await new Promise((r) => setTimeout(r, 10));
  expect(lists()).toBe(2);
  expect(watches).toBe(2);
  expect(warnings).toEqual([]);
});
