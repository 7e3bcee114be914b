/**
 * Benchmark 6: the route server's /api/route (Traefik forwardAuth) for an existing, ready instance, against
 * a bare node:http server answering 200, each in a process of its own, in the same run (the route server with the
 * node flags and environment of its installed Deployment). Throughput: autocannon
 * (32 keep-alive connections, 10 s runs in the order A B B A after a 3 s warm-up of each; best run of each
 * side), run as a separate process. Latency: bench/load-client at a fixed 2,000 req/s over 16 connections for
 * 10 s (after 2 s of warm-up), microsecond resolution.
 */
import path from 'node:path';
import { newNamespace, markPodsReady } from '../test/env/kube.js';
import {
  BenchContext, Benchmark, CR_API_VERSION, Child, Obj, cpuProfArgs, crPath, freePort, httpStatus, poll, repoRoot, row, startController, startNode,
} from './lib.js';
import { execFile } from 'node:child_process';
import { INSTALLED_ENV, INSTALLED_NODE_OPTIONS } from '../manifests/server-deployment.js';

const RATE = 2000;
const API_KEY = 'ak-bench-0123456789abcdef';
const URI = `/api/v1/${API_KEY}/instance/one/v1/chat/completions`;

function runJson(args: readonly string[]): Promise<Obj> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args.join(' ')}: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`${args.join(' ')}: no JSON in its output: ${stdout.slice(0, 300)}`)); }
    });
  });
}

const autocannon = path.join(repoRoot, 'node_modules/autocannon/autocannon.js');

/** Requests per second autocannon reaches in `seconds` against /api/route on `port`. */
async function throughput(ctx: BenchContext, port: number, seconds: number, label: string): Promise<{ rps: number; errors: number }> {
  const r = await runJson([autocannon, '-j', '-c', '32', '-d', String(seconds), '-H', `X-Forwarded-Uri=${URI}`, `http://127.0.0.1:${port}/api/route`]);
  ctx.log(`  ${label}: ${r.requests.average} req/s over ${seconds} s (non-2xx ${r.non2xx}, errors ${r.errors})`);
  return { rps: r.requests.average, errors: (r.errors ?? 0) + (r.non2xx ?? 0) };
}

interface Latency { readonly p50: number; readonly p99: number; readonly errors: number }

async function latency(ctx: BenchContext, port: number, label: string): Promise<Latency> {
  const lat = await runJson([
    ...ctx.programs().bench('load-client'), '--port', String(port), '--path', '/api/route', '--header', `X-Forwarded-Uri: ${URI}`,
    '--rate', String(RATE), '--duration', '10', '--warmup', '2', '--connections', '16',
  ]);
  const l = lat.latencyMs;
  ctx.log(`  ${label} at ${RATE} req/s: achieved ${lat.achievedRate}, p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, `
    + `p99.9 ${l.p999.toFixed(3)} ms, max ${l.max.toFixed(3)} ms, statuses ${JSON.stringify(lat.statuses)}`);
  const ok = Number(lat.statuses['200'] ?? 0);
  return { p50: l.p50, p99: l.p99, errors: lat.errors + (lat.completed - ok) + lat.unsolicited };
}

async function readyInstance(ctx: BenchContext): Promise<string> {
  const { kube, kubeconfigPath } = await ctx.cluster();
  const ns = await newNamespace('bench-route');
  await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'keys' }, data: { alice: Buffer.from(API_KEY).toString('base64') } },
  });
  await kube.request('POST', crPath('ClientPool', ns), {
    body: {
      apiVersion: CR_API_VERSION, kind: 'ClientPool', metadata: { name: 'sandbox' },
      spec: { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } },
    },
  });
  await kube.request('POST', crPath('ClientInstance', ns), {
    body: {
      apiVersion: CR_API_VERSION, kind: 'ClientInstance', metadata: { name: 'sandbox-alice-one', labels: { 'agentway.dev/client-pool': 'sandbox' } },
      spec: { pool: 'sandbox', client: 'alice', instance: 'one' },
    },
  });
  const controller = await startController(kubeconfigPath, ns);
  try {
    await poll(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'client-sandbox-alice-one' }), 60_000, 'the instance pod', 200);
    await poll(async () => {
      const inst: Obj = await kube.request('GET', crPath('ClientInstance', ns, 'sandbox-alice-one'));
      return inst.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, 60_000, 'the instance to be Ready');
  } finally {
    await controller.stop();
  }
  return ns;
}

const BARE_SERVER = `require('node:http').createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\\n'); }).listen(Number(process.argv[1]), '127.0.0.1');`;

export const routeServer: Benchmark = {
  name: 'route',
  title: `route server /api/route for a ready instance: req/s, and p50/p99 at ${RATE.toLocaleString('en')} req/s, vs bare node:http`,
  async run(ctx) {
    const { kubeconfigPath } = await ctx.cluster();
    const ns = await readyInstance(ctx);
    const dir = ctx.scratch('route');
    const servers: Child[] = [];
    try {
      const barePort = await freePort();
      const bare = startNode(['-e', BARE_SERVER, String(barePort)], path.join(dir, 'bare.log'));
      servers.push(bare);
      const rsPort = await freePort();
      // As installed: the route server's Deployment sets these node flags and this environment.
      const rs = startNode([
        ...INSTALLED_NODE_OPTIONS.split(' '), ...cpuProfArgs(ctx, 'route-server'), ...ctx.programs().cli, 'route-server', '--kubeconfig', kubeconfigPath, '--namespace', ns, '--port', String(rsPort),
      ], path.join(dir, 'route-server.log'), { ...INSTALLED_ENV, LOG_LEVEL: 'warn' });
      servers.push(rs);
      await poll(async () => (await httpStatus(`http://127.0.0.1:${barePort}/`)) === 200 ? true : undefined, 20_000, 'the bare server');
      await poll(async () => {
        const res = await fetch(`http://127.0.0.1:${rsPort}/api/route`, { headers: { 'X-Forwarded-Uri': URI }, signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      }, 30_000, 'the route server to answer 200 for the ready instance');

      // The machine is shared and two cores are few: throughput runs alternate (A B B A) after a warm-up
      // of each, and the best run of each side counts.
      await throughput(ctx, rsPort, 3, 'route server warm-up');
      await throughput(ctx, barePort, 3, 'bare node:http warm-up');
      const runs = { ours: [] as number[], bare: [] as number[] };
      let errors = 0;
      for (const side of ['ours', 'bare', 'bare', 'ours'] as const) {
        const r = await throughput(ctx, side === 'ours' ? rsPort : barePort, 10, side === 'ours' ? 'route server' : 'bare node:http');
        runs[side].push(r.rps);
        errors += r.errors;
      }
      const ours = { rps: Math.max(...runs.ours), ...await latency(ctx, rsPort, 'route server') };
      const baseline = { rps: Math.max(...runs.bare), ...await latency(ctx, barePort, 'bare node:http') };
      errors += ours.errors + baseline.errors;
      return [
        row('route: /api/route throughput, 32 connections, best of 2', ours.rps, 'req/s', '≥ 0.8× bare', baseline.rps),
        row('route: errors or non-2xx answers, route server and bare, all runs', errors, 'count', '0'),
        row(`route: /api/route p50 at ${RATE.toLocaleString('en')} req/s`, ours.p50, 'ms', 'info', baseline.p50),
        row(`route: /api/route p99 at ${RATE.toLocaleString('en')} req/s`, ours.p99, 'ms', '≤ 1 ms', baseline.p99),
      ];
    } finally {
      for (const s of servers) await s.stop();
    }
  },
};
