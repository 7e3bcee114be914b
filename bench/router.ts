/**
 * Benchmark: the model router (`agentway router`, its own process) in front of a fake OpenAI backend on
 * loopback (a bare node:http process answering chat completions, plain or as a 200-event SSE stream), in
 * the same run, against calling that backend directly:
 * - added latency at a fixed 1,000 req/s with a 1 KB chat body, non-streaming (bench/load-client, 16
 *   connections, 10 s after 2 s of warm-up): router p50/p99 minus direct p50/p99;
 * - the highest fixed rate (steps of 1,000 req/s, 5 s each, 64 connections) one router process sustains
 *   with p99 under 10 ms, load generator and backend on the same 2 cores;
 * - streaming: time to the first byte of a 200-event stream, through the router minus direct (median of 200);
 * - router RSS when idle and after the load.
 * The router runs with the node flags and environment its installed Deployment sets (INSTALLED_NODE_OPTIONS,
 * INSTALLED_ENV) unless BENCH_ROUTER_NODE_ARGS says otherwise (empty: V8's defaults; the environment stays);
 * the policy benchmark runs its routers the same way.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSTALLED_ENV, INSTALLED_NODE_OPTIONS } from '../manifests/server-deployment.js';
import { markPodsReady, newNamespace } from '../test/env/kube.js';
import { BenchContext, Benchmark, CR_API_VERSION, Child, cpuProfArgs, crPath, freePort, median, poll, processMemory, row, runJson, startController, startNode } from './lib.js';

const MODEL = 'bench-model';
const FIXED_RATE = 1000;

/** Node flags of a benchmarked router: the installed Deployment's, or BENCH_ROUTER_NODE_ARGS. */
export function routerNodeArgs(): string[] {
  return (process.env.BENCH_ROUTER_NODE_ARGS ?? INSTALLED_NODE_OPTIONS).split(' ').filter(Boolean);
}

/** Environment of a benchmarked router besides its log level: the installed Deployment's. */
export const ROUTER_ENV: Readonly<Record<string, string>> = INSTALLED_ENV;

// The backend: answers a chat completion (or a 200-event stream when asked) after reading the whole body.
const BACKEND = `
const http = require('node:http');
const answer = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1700000000, model: '${MODEL}',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }] });
http.createServer({ noDelay: true, keepAliveTimeout: 65000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/v1/models') return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: '${MODEL}', object: 'model', owned_by: 'vllm' }] }));
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    if (!body.stream) return res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) }).end(answer);
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    let i = 0;
    const next = () => {
      if (i === 200) return res.end('data: [DONE]\\n\\n');
      res.write('data: ' + JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 't' + i } }] }) + '\\n\\n');
      i++;
      setImmediate(next);
    };
    next();
  });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** A 1 KB chat request; temperature 0.7, so the response cache (temperature 0 only) stays out of the way. */
function chatBody(): string {
  const base = { model: MODEL, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: '' }], max_tokens: 16, temperature: 0.7 };
  const pad = 1024 - JSON.stringify(base).length;
  base.messages[1].content = 'x'.repeat(Math.max(0, pad));
  return JSON.stringify(base);
}

interface Load { readonly p50: number; readonly p99: number; readonly achieved: number; readonly bad: number }

async function load(ctx: BenchContext, port: number, bodyFile: string, rate: number, seconds: number, connections: number, label: string): Promise<Load> {
  const r = await runJson([
    ...ctx.programs().bench('load-client'), '--port', String(port), '--path', '/v1/chat/completions', '--method', 'POST', '--body-file', bodyFile,
    '--rate', String(rate), '--duration', String(seconds), '--warmup', seconds >= 10 ? '2' : '1', '--connections', String(connections),
  ]);
  const l = r.latencyMs;
  const ok = Number(r.statuses['200'] ?? 0);
  ctx.log(`  ${label} at ${rate} req/s: achieved ${r.achievedRate}, p50 ${l.p50?.toFixed(3)} ms, p99 ${l.p99?.toFixed(3)} ms, max ${l.max?.toFixed(3)} ms, statuses ${JSON.stringify(r.statuses)}`);
  return { p50: l.p50 ?? Infinity, p99: l.p99 ?? Infinity, achieved: r.achievedRate, bad: r.errors + (r.completed - ok) };
}

/** Milliseconds from sending a streaming request to its first body byte. */
function timeToFirstByte(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent: keepAlive,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let first = 0;
      res.on('data', () => { first ||= Number(process.hrtime.bigint() - start) / 1e6; });
      res.on('end', () => resolve(first));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function ttfb(port: number, body: string): Promise<number> {
  for (let i = 0; i < 20; i++) await timeToFirstByte(port, body);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) times.push(await timeToFirstByte(port, body));
  return median(times);
}

export const router: Benchmark = {
  name: 'router',
  title: 'model router: added latency at 1,000 req/s (1 KB chat body), max req/s with p99 < 10 ms, streaming time to first byte, RSS',
  async run(ctx) {
    const { kube, kubeconfigPath } = await ctx.cluster();
    const dir = ctx.scratch('router');
    const children: Child[] = [];
    try {
      const backendPort = await freePort();
      children.push(startNode(['-e', BACKEND, String(backendPort)], path.join(dir, 'backend.log')));
      const ns = await newNamespace('bench-router');
      await kube.request('POST', crPath('ModelAPI', ns), {
        body: { apiVersion: CR_API_VERSION, kind: 'ModelAPI', metadata: { name: 'bench' }, spec: { image: 'vllm/vllm-openai:v0.6.3', port: backendPort, models: [MODEL], ownedBy: 'vllm' } },
      });
      const controller = await startController(kubeconfigPath, ns);
      try {
        await poll(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-bench' }, '127.0.0.1'), 60_000, 'the ModelAPI pod', 200);
      } finally {
        await controller.stop();
      }
      const routerPort = await freePort();
      const metricsPort = await freePort();
      ctx.log(`  router node flags: ${routerNodeArgs().join(' ') || '(none: V8 defaults)'}; environment ${JSON.stringify(ROUTER_ENV)}`);
      const r = startNode([...routerNodeArgs(), ...cpuProfArgs(ctx, 'router'), ...ctx.programs().cli, 'router', '--kubeconfig', kubeconfigPath, '--namespace', ns,
        '--host', '127.0.0.1', '--port', String(routerPort), '--metrics-port', String(metricsPort),
        // Audit lines to a file stream of their own: on stdout, which is a file here (and a pipe in a pod),
        // every line is a synchronous write(2) on the request path.
        '--audit-file', path.join(dir, 'audit.log')], path.join(dir, 'router.log'), { ...ROUTER_ENV, LOG_LEVEL: 'warn' });
      children.push(r);
      const body = chatBody();
      const bodyFile = path.join(dir, 'chat.json');
      writeFileSync(bodyFile, body);
      await poll(async () => {
        const res = await fetch(`http://127.0.0.1:${routerPort}/v1/chat/completions`, { method: 'POST', body, signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        await res?.arrayBuffer();
        return res?.status === 200 ? true : undefined;
      }, 60_000, 'the router to route to the backend');
      const idle = processMemory(r.pid);
      ctx.log(`  router RSS idle: ${idle.rss.toFixed(1)} MiB`);

      // Added latency at a fixed rate: direct, router, router, direct; the better run of each side counts.
      const runs = { direct: [] as Load[], router: [] as Load[] };
      for (const side of ['direct', 'router', 'router', 'direct'] as const) {
        runs[side].push(await load(ctx, side === 'router' ? routerPort : backendPort, bodyFile, FIXED_RATE, 10, 16, side));
      }
      const best = (ls: Load[]) => ls.reduce((a, b) => (b.p99 < a.p99 ? b : a));
      const direct = best(runs.direct);
      const routed = best(runs.router);

      // Highest step with p99 under 10 ms and the rate achieved.
      let max = 0;
      let maxBad = 0;
      for (let rate = 2000; rate <= 12_000; rate += 1000) {
        const l = await load(ctx, routerPort, bodyFile, rate, 5, 64, 'router step');
        if (l.p99 >= 10 || l.achieved < rate * 0.95) break;
        max = rate;
        maxBad += l.bad;
      }
      let directMax = 0;
      for (let rate = 2000; rate <= 16_000; rate += 2000) {
        const l = await load(ctx, backendPort, bodyFile, rate, 5, 64, 'direct step');
        if (l.p99 >= 10 || l.achieved < rate * 0.95) break;
        directMax = rate;
      }
      const after = processMemory(r.pid);
      ctx.log(`  router RSS after the load: ${after.rss.toFixed(1)} MiB (peak ${after.peak.toFixed(1)} MiB)`);

      const streamBody = JSON.stringify({ ...JSON.parse(body), stream: true });
      const ttfbDirect = await ttfb(backendPort, streamBody);
      const ttfbRouter = await ttfb(routerPort, streamBody);
      ctx.log(`  streaming time to first byte: router ${ttfbRouter.toFixed(3)} ms, direct ${ttfbDirect.toFixed(3)} ms`);
      const bad = routed.bad + direct.bad + maxBad;
      return [
        row(`router: added p50 at ${FIXED_RATE.toLocaleString('en')} req/s, 1 KB chat body`, routed.p50 - direct.p50, 'ms', '≤ 0.5 ms', direct.p50),
        row('router: errors or non-2xx answers, router and direct, all runs', bad, 'count', '0'),
        row(`router: added p99 at ${FIXED_RATE.toLocaleString('en')} req/s, 1 KB chat body`, routed.p99 - direct.p99, 'ms', '≤ 2 ms', direct.p99),
        row('router: max req/s with p99 < 10 ms, one process, 64 connections', max, 'req/s', '≥ 5,000 req/s', directMax),
        row('router: streaming time to first byte, added (200-event stream, median of 200)', ttfbRouter - ttfbDirect, 'ms', '≤ 1 ms', ttfbDirect),
        row('router: RSS idle', idle.rss, 'MiB', '≤ 150 MiB'),
        row('router: RSS after the load', after.rss, 'MiB', '≤ 150 MiB'),
      ];
    } finally {
      keepAlive.destroy();
      for (const c of children) await c.stop();
    }
  },
};
