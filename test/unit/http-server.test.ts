/** The listener every agentway process uses: explicit timeouts and address, and no request that ends the process. */
import http from 'node:http';
import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from '@jest/globals';
import { boundPort, listen } from '../../controller/common/http-server.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

async function serve(handler: http.RequestListener, opts: Partial<Parameters<typeof listen>[1]> = {}): Promise<http.Server> {
  const s = await listen(handler, { port: 0, host: '127.0.0.1', ...opts });
  servers.push(s);
  return s;
}

describe('listen', () => {
  test('sets the header and request timeouts explicitly, defaults below Node\'s', async () => {
    const s = await serve((_req, res) => res.end());
    expect([s.headersTimeout, s.requestTimeout, s.keepAliveTimeout]).toEqual([10_000, 60_000, 65_000]);
    const custom = await serve((_req, res) => res.end(), { headersTimeoutMs: 2000, requestTimeoutMs: 5000 });
    expect([custom.headersTimeout, custom.requestTimeout]).toEqual([2000, 5000]);
  });

  test('binds the address it is given', async () => {
    const s = await serve((_req, res) => res.end());
    expect((s.address() as { address: string }).address).toBe('127.0.0.1');
  });

  test('a handler that throws answers 500, and the server keeps serving', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/throw') throw new URIError('URI malformed');
      res.end('ok');
    });
    const base = `http://127.0.0.1:${boundPort(s)}`;
    expect((await fetch(`${base}/throw`)).status).toBe(500);
    expect(await (await fetch(`${base}/fine`)).text()).toBe('ok');
  });

  test('a handler whose promise rejects answers 500, and the server keeps serving', async () => {
    const s = await serve(async (req, res) => {
      if (req.url === '/reject') throw new Error('boom');
      res.end('ok');
    });
    const base = `http://127.0.0.1:${boundPort(s)}`;
    expect((await fetch(`${base}/reject`)).status).toBe(500);
    expect(await (await fetch(`${base}/fine`)).text()).toBe('ok');
  });
});

/** A raw keep-alive client: what it sends and every byte it gets back. */
async function rawClient(port: number): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.on('data', (d) => { text += d.toString('latin1'); });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  return { socket, received: () => text, closed };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const GET = 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n';
const answers = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

// What Node's connection sweep does with a connection it finds overdue (lib/_http_server.js, onRequestTimeout).
function reportOverdue(socket: net.Socket): void {
  socket.emit('error', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
}

describe('request timeouts on keep-alive connections', () => {
  async function served(opts: Partial<Parameters<typeof listen>[1]> = {}) {
    const s = await serve((_req, res) => res.writeHead(200, { 'Content-Length': 2 }).end('ok'), { headersTimeoutMs: 400, requestTimeoutMs: 800, ...opts });
    const accepted: net.Socket[] = [];
    s.on('connection', (c: net.Socket) => accepted.push(c));
    return { s, accepted };
  }

  test('a connection reported overdue while it is between requests is not answered 408, and keeps serving', async () => {
    const logged: string[] = [];
    const { s, accepted } = await served({ log: pino({ level: 'info' }, { write: (line: string) => { logged.push(line); } }) });
    const c = await rawClient(boundPort(s));
    c.socket.write(GET);
    await until('the first answer', () => answers(c.received()).length === 1);
    reportOverdue(accepted[0]);
    c.socket.write(GET);
    await until('the second answer', () => answers(c.received()).length === 2);
    expect(answers(c.received())).toEqual([200, 200]);
    expect(logged.map((l) => JSON.parse(l).msg)).toEqual(['request timeout reported for a connection that is not overdue: not cut off']);
    c.socket.destroy();
  });

  test('a request reported overdue just after it began is answered, not cut off', async () => {
    const { s, accepted } = await served({ headersTimeoutMs: 2000, requestTimeoutMs: 4000 });
    const c = await rawClient(boundPort(s));
    c.socket.write(GET);
    await until('the first answer', () => answers(c.received()).length === 1);
    c.socket.write('GET /x HTTP/1.1\r\n');
    await new Promise((r) => setTimeout(r, 50));
    reportOverdue(accepted[0]);
    c.socket.write('Host: t\r\n\r\n');
    await until('the second answer', () => answers(c.received()).length === 2);
    expect(answers(c.received())).toEqual([200, 200]);
    c.socket.destroy();
  });

  test('a request reported early is still cut off with 408 once it passes its headers timeout', async () => {
    const { s, accepted } = await served({ headersTimeoutMs: 600, requestTimeoutMs: 5000 });
    const c = await rawClient(boundPort(s));
    c.socket.write('GET /x HTTP/1.1\r\nHost: t\r\n');
    reportOverdue(accepted[0]);
    await c.closed;
    expect(answers(c.received())).toEqual([408]);
  });

  test('a client that does not finish its headers is answered 408 and cut off, on its first request and on a later one', async () => {
    const { s } = await served();
    const first = await rawClient(boundPort(s));
    first.socket.write('GET /x HTTP/1.1\r\nHost: t\r\n');
    await first.closed;
    expect(answers(first.received())).toEqual([408]);

    const later = await rawClient(boundPort(s));
    later.socket.write(GET);
    await until('the first answer', () => answers(later.received()).length === 1);
    later.socket.write('GET /x HTTP/1.1\r\nHost: t\r\n');
    await later.closed;
    expect(answers(later.received())).toEqual([200, 408]);
  });

  test('a client that connects and sends nothing is answered 408 and cut off', async () => {
    const { s } = await served();
    const c = await rawClient(boundPort(s));
    await c.closed;
    expect(answers(c.received())).toEqual([408]);
  });

  test('other client errors are answered as Node answers them: a malformed request gets 400', async () => {
    const { s } = await served();
    const c = await rawClient(boundPort(s));
    c.socket.write('NOT HTTP\r\n\r\n');
    await c.closed;
    expect(answers(c.received())).toEqual([400]);
  });
});
