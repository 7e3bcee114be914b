/**
 * An open-loop HTTP/1.1 load generator for latency at a fixed rate, run as its own process. Requests are
 * released on a 1 ms tick at `rate` per second and sent over `connections` keep-alive sockets, one request
 * in flight per socket, the sockets taken in turn (so that none sits idle past the server's headers timeout,
 * which would close it with a 408 nobody asked for; such an answer is counted as `unsolicited`). Latency runs
 * from the tick that released a request (so time spent waiting for a
 * free socket, i.e. server backlog, counts) to the last byte of its answer, measured with hrtime.
 * (autocannon, used for throughput, records whole milliseconds: too coarse for a sub-millisecond p99.)
 *
 * Usage: node load-client.js --port P [--host 127.0.0.1] [--path /] [--header 'Name: value']… [--rate 2000]
 *        [--duration 10] [--warmup 2] [--connections 16] [--method GET] [--body-file f (sent as JSON)]
 * Prints one JSON object.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

interface Options {
  host: string; port: number; path: string; headers: string[]; rate: number; duration: number; warmup: number; connections: number;
  method: string; bodyFile?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { host: '127.0.0.1', port: 0, path: '/', headers: [], rate: 2000, duration: 10, warmup: 2, connections: 16, method: 'GET' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    switch (k) {
      case '--host': o.host = v; break;
      case '--port': o.port = Number(v); break;
      case '--path': o.path = v; break;
      case '--header': o.headers.push(v); break;
      case '--rate': o.rate = Number(v); break;
      case '--duration': o.duration = Number(v); break;
      case '--warmup': o.warmup = Number(v); break;
      case '--connections': o.connections = Number(v); break;
      case '--method': o.method = v; break;
      case '--body-file': o.bodyFile = v; break;
      default: throw new Error(`unknown option ${k}`);
    }
  }
  if (!o.port) throw new Error('--port is required');
  return o;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

interface Conn {
  readonly socket: net.Socket;
  busy: boolean;
  released: number;
  buf: Buffer;
}

function responseEnd(buf: Buffer): { status: number; end: number } | undefined {
  const headerEnd = buf.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const head = buf.subarray(0, headerEnd).toString('latin1');
  const status = Number(head.slice(9, 12));
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) {
    const end = headerEnd + 4 + Number(cl[1]);
    return buf.length >= end ? { status, end } : undefined;
  }
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const last = buf.indexOf('\r\n0\r\n\r\n', headerEnd);
    return last >= 0 ? { status, end: last + 7 } : undefined;
  }
  return { status, end: headerEnd + 4 };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const body = o.bodyFile ? readFileSync(o.bodyFile) : undefined;
  const bodyHeaders = body ? ['Content-Type: application/json', `Content-Length: ${body.length}`] : [];
  const head = Buffer.from([`${o.method} ${o.path} HTTP/1.1`, `Host: ${o.host}:${o.port}`, ...o.headers, ...bodyHeaders, 'Connection: keep-alive', '', ''].join('\r\n'), 'latin1');
  const request = body ? Buffer.concat([head, body]) : head;
  const conns: Conn[] = await Promise.all(Array.from({ length: o.connections }, () => new Promise<Conn>((resolve, reject) => {
    const socket = net.connect(o.port, o.host, () => resolve(conn));
    socket.setNoDelay(true);
    const conn: Conn = { socket, busy: false, released: 0, buf: Buffer.alloc(0) };
    socket.once('error', reject);
  })));

  let recording = false;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let unsolicited = 0;
  let sent = 0;
  /** Answers received, warm-up included: what the server handled in all. */
  let answered = 0;
  const due: number[] = [];
  const idle: Conn[] = [...conns];

  const send = (c: Conn, released: number) => {
    c.busy = true;
    c.released = released;
    c.socket.write(request);
    if (recording) sent++;
  };
  for (const c of conns) {
    c.socket.on('data', (chunk: Buffer) => {
      c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
      const r = responseEnd(c.buf);
      if (!r) return;
      const t = nowMs();
      c.buf = c.buf.subarray(r.end);
      // An answer with no request in flight: the server closing the connection (a timeout). No latency to record.
      if (!c.busy) { unsolicited++; return; }
      c.busy = false;
      answered++;
      if (recording) {
        latencies.push(t - c.released);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
      const next = due.shift();
      if (next !== undefined) send(c, next);
      else idle.push(c);
    });
    c.socket.on('error', () => { errors++; });
  }

  const start = nowMs();
  const warmupEnd = start + o.warmup * 1000;
  const end = warmupEnd + o.duration * 1000;
  let released = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = nowMs();
      if (!recording && t >= warmupEnd) recording = true;
      if (t >= end) return resolve();
      const target = Math.floor(((t - start) / 1000) * o.rate);
      for (; released < target; released++) {
        const c = idle.shift();
        if (c) send(c, t);
        else due.push(t);
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  // Let answers in flight arrive.
  const drainUntil = nowMs() + 2000;
  while (conns.some((c) => c.busy) && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 5));
  for (const c of conns) c.socket.destroy();

  const sorted = latencies.sort((a, b) => a - b);
  const q = (p: number) => sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  process.stdout.write(`${JSON.stringify({
    rate: o.rate, durationS: o.duration, connections: o.connections, sent, completed: sorted.length, answered, errors, unsolicited, statuses,
    achievedRate: sorted.length / o.duration, backlogAtEnd: due.length,
    latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: q(1), mean: sorted.reduce((s, x) => s + x, 0) / (sorted.length || 1) },
  })}\n`);
}

await main();
