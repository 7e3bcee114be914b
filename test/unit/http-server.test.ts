/** The listener every agentway process uses: explicit timeouts and address, and no request that ends the process. */
import http from 'node:http';
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
