/**
 * Leader election against a Lease held by a small HTTP server on loopback: it keeps one Lease, answers GET,
 * POST and PUT as the API server does for them, and can be told to accept requests and never answer.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { LeaderElector, LeaderElectionOptions } from '../../controller/kube/leader.js';

interface LeaseServer {
  readonly port: number;
  lease?: any;
  /** Requests accepted and never answered while true. */
  stall: boolean;
  /** Bodies of the POSTs and PUTs it stored, in order. */
  readonly writes: any[];
  /** Stalled requests whose client gave up (closed the connection). */
  abandoned: number;
  /** GETs answered. */
  reads: number;
  close(): Promise<void>;
}

async function leaseServer(lease?: any): Promise<LeaseServer> {
  const state: LeaseServer = { port: 0, lease, stall: false, writes: [], abandoned: 0, reads: 0, close: async () => undefined };
  const answer = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.stall) {
        res.on('close', () => { if (!res.writableEnded) state.abandoned++; });
        return;
      }
      const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      if (req.method === 'GET') {
        state.reads++;
        if (!state.lease) return answer(res, 404, { kind: 'Status', reason: 'NotFound', message: 'leases "l" not found' });
        return answer(res, 200, state.lease);
      }
      if (req.method === 'POST' || req.method === 'PUT') {
        const version = Number(state.lease?.metadata?.resourceVersion ?? 0);
        if (req.method === 'PUT' && body.metadata?.resourceVersion !== String(version)) {
          return answer(res, 409, { kind: 'Status', reason: 'Conflict', message: 'the object has been modified' });
        }
        state.writes.push(body);
        state.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(version + 1) } };
        return answer(res, req.method === 'POST' ? 201 : 200, state.lease);
      }
      answer(res, 405, { kind: 'Status', reason: 'MethodNotAllowed', message: req.method });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (state as { port: number }).port = (server.address() as AddressInfo).port;
  state.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return state;
}

function clientFor(port: number): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'loopback', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'loopback' }],
    contexts: [{ name: 'loopback', cluster: 'loopback', user: 'loopback' }],
    currentContext: 'loopback',
  });
  return new KubeClient(kc);
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Running {
  readonly elector: LeaderElector;
  readonly events: string[];
  readonly errors: Error[];
}

function elect(server: LeaseServer, opts: Partial<LeaderElectionOptions>): Running {
  const events: string[] = [];
  const errors: Error[] = [];
  const elector = new LeaderElector(clientFor(server.port), {
    namespace: 'ns', name: 'l', identity: 'me', onError: (e) => { if (e) errors.push(e); }, ...opts,
  }, pino({ level: 'silent' }));
  void elector.run(() => events.push('started'), () => events.push('stopped'));
  cleanup.push(() => elector.release());
  return { elector, events, errors };
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const heldBy = (holder: string, renewTime: string, leaseDurationSeconds: number) => ({
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ns', resourceVersion: '7' },
  spec: { holderIdentity: holder, leaseDurationSeconds, acquireTime: renewTime, renewTime, leaseTransitions: 3 },
});

describe('leader election', () => {
  test('a renewal the server never answers times out inside the lease; the elector reports the error and steps down', async () => {
    const server = await leaseServer();
    cleanup.push(() => server.close());
    // Renewals give up after 2 s, a lease lasts 6 s: a request allowed the client's 30 s default would
    // still be pending when another replica takes the lease over.
    const { elector, events, errors } = elect(server, { leaseDurationMs: 6000, renewDeadlineMs: 2000, retryPeriodMs: 200 });
    await until('leadership', () => elector.isLeader);

    server.stall = true;
    const stalledAt = performance.now();
    await until('a failed renewal', () => errors.length > 0);
    const failedAfterMs = performance.now() - stalledAt;

    expect(errors[0].message).toMatch(/timed out/);
    expect(failedAfterMs).toBeLessThan(6000);
    // The client closed the request it gave up on; the server never answered it.
    await until('the stalled request to be closed by the client', () => server.abandoned > 0);
    expect(elector.lastError).toBe(errors[errors.length - 1]);
    await until('leadership to be given up', () => !elector.isLeader);
    expect(events).toEqual(['started', 'stopped']);
  });

  test('the lease times it writes come from its clock', async () => {
    const server = await leaseServer();
    cleanup.push(() => server.close());
    const at = new Date('2031-05-06T07:08:09.123Z');
    const { elector } = elect(server, { clock: () => at, retryPeriodMs: 100 });
    await until('leadership', () => elector.isLeader);
    await until('a renewal', () => server.writes.length >= 2);

    const [created, renewed] = server.writes;
    expect(created.spec).toMatchObject({ holderIdentity: 'me', acquireTime: '2031-05-06T07:08:09.123000Z', renewTime: '2031-05-06T07:08:09.123000Z' });
    expect(renewed.spec.renewTime).toBe('2031-05-06T07:08:09.123000Z');
  });

  test('whether another holder\'s lease has expired is decided by its clock', async () => {
    // Renewed in the past by the wall clock, yet 5 s ago by the elector's clock: not expired, so not taken.
    const renewed = '2020-01-01T00:00:00.000000Z';
    const young = await leaseServer(heldBy('other', renewed, 10));
    cleanup.push(() => young.close());
    const waiting = elect(young, { clock: () => new Date(Date.parse(renewed) + 5000), retryPeriodMs: 50 });
    await until('several attempts', () => young.reads >= 5);
    expect(waiting.errors).toEqual([]);
    expect(waiting.elector.isLeader).toBe(false);
    expect(young.writes).toEqual([]);

    // Renewed in the future by the wall clock, yet 11 s ago by the elector's clock: expired, so taken over.
    const future = '2040-01-01T00:00:00.000000Z';
    const old = await leaseServer(heldBy('other', future, 10));
    cleanup.push(() => old.close());
    const taking = elect(old, { clock: () => new Date(Date.parse(future) + 11_000), retryPeriodMs: 50 });
    await until('leadership', () => taking.elector.isLeader);
    expect(old.writes[0].spec).toMatchObject({ holderIdentity: 'me', acquireTime: '2040-01-01T00:00:11.000000Z', leaseTransitions: 4 });
  });

  test('losing leadership is decided by its clock: renewals failing while its clock stands still keep it leading', async () => {
    const server = await leaseServer();
    cleanup.push(() => server.close());
    let now = Date.parse('2031-01-01T00:00:00Z');
    const { elector, events, errors } = elect(server, {
      clock: () => new Date(now), leaseDurationMs: 4000, renewDeadlineMs: 1000, retryPeriodMs: 50,
    });
    await until('leadership', () => elector.isLeader);
    server.stall = true;
    // Each renewal now fails after its 500 ms timeout, well past the 1 s renew deadline by the wall clock.
    await until('three failed renewals', () => errors.length >= 3);
    expect(elector.isLeader).toBe(true);
    now += 1001;
    await until('leadership to be given up', () => !elector.isLeader);
    expect(events).toEqual(['started', 'stopped']);
  });
});
