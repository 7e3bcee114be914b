/**
 * Benchmark: what the policy of the model router costs (DESIGN §9), in the same run:
 * - two router processes in front of the same kind of fake backend, each on its own namespace: one where no
 *   ModelAccess exists (anonymous: no key, no limits; the policy's cheapest path) and one where every request
 *   carries a key of a ModelAccess with request and token limits (key check, class filter, limit reservation
 *   and settlement). Both write an audit line per request (to /dev/null) and have the cache off. Open-loop
 *   load from bench/load-client, a process of its own, at a fixed 1,000 req/s, 1 KB chat body, 16
 *   connections, 10 s after 2 s of warm-up, in the order A B B A; the better run of each side counts. The
 *   added p50/p99 is keyed minus anonymous.
 * - cache hits: the keyed router with its cache on, the same temperature-0 body at 1,000 req/s the same way,
 *   twice; the run with the better p99 counts (as for the sides above). Then 200 sequential requests checked
 *   to be answered from the cache.
 * - what a hit allocates: a second cache router on the same namespace, run with V8's GC trace, under one more
 *   such load. The tracer formats and writes a line on every collection, so its latency is reported apart
 *   and the latency rows come from the router without it. From the trace: the bytes allocated per hit and
 *   the young-generation collections (and their pauses) per 10,000 hits. V8 sizes the young generation by
 *   the allocation rate, so fewer bytes can mean more, shorter collections: the pauses are the figure that
 *   counts for latency. Both are counted over the whole load, warm-up included, from the collections that
 *   ended in it: exact to about one young generation (a few MiB) over some 12,000 hits.
 * - the audit line alone: building and writing one line, in this process, per line.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import path from 'node:path';
import { Pool } from 'undici';
import { auditLine, AuditWriter } from '../controller/router/policy/audit.js';
import { markPodsReady, newNamespace } from '../test/env/kube.js';
import { ROUTER_ENV, routerNodeArgs } from './router.js';
import { BenchContext, Benchmark, CR_API_VERSION, Child, cpuProfArgs, crPath, freePort, poll, row, runJson, startController, startNode } from './lib.js';

const MODEL = 'bench-model';
const RATE = 1000;
const KEY = 'sk-bench-policy-0123456789abcdef';

const BACKEND = `
const http = require('node:http');
const answer = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1700000000, model: '${MODEL}',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 250, completion_tokens: 1, total_tokens: 251 } });
http.createServer({ noDelay: true, keepAliveTimeout: 65000 }, (req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) }).end(answer));
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

function chatBody(temperature: number): string {
  const base = { model: MODEL, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: '' }], max_tokens: 16, temperature };
  base.messages[1].content = 'x'.repeat(Math.max(0, 1024 - JSON.stringify(base).length));
  return JSON.stringify(base);
}

interface Load { readonly p50: number; readonly p99: number; readonly ok: number; readonly bad: number; readonly answered: number }

/**
 * Open loop at RATE req/s for 10 s after 2 s of warm-up, from bench/load-client in a process of its own (as
 * the router benchmark does): the load generator's own pauses do not land in the router's latency.
 */
async function load(ctx: BenchContext, port: number, bodyFile: string, headers: readonly string[]): Promise<Load> {
  const r = await runJson([
    ...ctx.programs().bench('load-client'), '--port', String(port), '--path', '/v1/chat/completions', '--method', 'POST', '--body-file', bodyFile,
    ...headers.flatMap((h) => ['--header', h]), '--rate', String(RATE), '--duration', '10', '--warmup', '2', '--connections', '16',
  ]);
  const ok = Number(r.statuses['200'] ?? 0);
  return { p50: r.latencyMs.p50 ?? Infinity, p99: r.latencyMs.p99 ?? Infinity, ok, bad: r.errors + (r.completed - ok), answered: r.answered };
}

interface Collections { readonly scavenges: number; readonly allocated: number; readonly pauseMs: number }

/**
 * Young-generation collections, their pauses and the bytes allocated before each collection, from the
 * `--trace-gc-nvp` lines of a log after `offset`.
 */
function collectionsSince(logPath: string, offset: number): Collections {
  let scavenges = 0;
  let allocated = 0;
  let pauseMs = 0;
  for (const line of readFileSync(logPath).subarray(offset).toString('latin1').split('\n')) {
    const m = / pause=([\d.]+) .* gc=(\w+) .* allocated=(\d+)/.exec(line);
    if (!m) continue;
    if (m[2] === 's') { scavenges++; pauseMs += Number(m[1]); }
    allocated += Number(m[3]);
  }
  return { scavenges, allocated, pauseMs };
}

/** How many of `n` sequential requests are answered from the cache (`x-agentway-cache: hit`). */
async function cacheHits(port: number, body: string, headers: Record<string, string>, n: number): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const res = await pool.request({
      method: 'POST', path: '/v1/chat/completions', body,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
    });
    await res.body.dump();
    if (res.statusCode === 200 && res.headers['x-agentway-cache'] === 'hit') hits++;
  }
  await pool.close();
  return hits;
}

/** A namespace with a ModelAPI whose pod is "ready" at the backend's address; with a ModelAccess when keyed. */
async function namespaceWithBackend(ctx: BenchContext, backendPort: number, keyed: boolean): Promise<string> {
  const { kube, kubeconfigPath } = await ctx.cluster();
  const ns = await newNamespace(keyed ? 'bench-policy-keyed' : 'bench-policy-anon');
  await kube.request('POST', crPath('ModelAPI', ns), {
    body: { apiVersion: CR_API_VERSION, kind: 'ModelAPI', metadata: { name: 'bench' }, spec: { image: 'vllm/vllm-openai:v0.6.3', port: backendPort, models: [MODEL], ownedBy: 'vllm' } },
  });
  if (keyed) {
    await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bench-keys' }, data: { bench: Buffer.from(KEY).toString('base64') } },
    });
    await kube.request('POST', `/apis/agentway.dev/v1alpha1/namespaces/${ns}/modelaccesses`, {
      body: {
        apiVersion: CR_API_VERSION, kind: 'ModelAccess', metadata: { name: 'bench' },
        spec: { apiKeys: { secretRef: { name: 'bench-keys' } }, dataClass: 'internal', models: [MODEL], limits: { requestsPerMinute: 100_000_000, tokensPerMinute: 2_000_000_000 } },
      },
    });
  }
  const controller = await startController(kubeconfigPath, ns);
  try {
    await poll(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-bench' }, '127.0.0.1'), 60_000, 'the ModelAPI pod', 200);
  } finally {
    await controller.stop();
  }
  return ns;
}

async function startRouter(ctx: BenchContext, dir: string, name: string, ns: string, extra: readonly string[], nodeFlags: readonly string[] = []): Promise<{ child: Child; port: number }> {
  const { kubeconfigPath } = await ctx.cluster();
  const port = await freePort();
  const metricsPort = await freePort();
  const child = startNode([...routerNodeArgs(), ...nodeFlags, ...ctx.programs().cli, 'router', '--kubeconfig', kubeconfigPath, '--namespace', ns, '--host', '127.0.0.1',
    '--port', String(port), '--metrics-port', String(metricsPort), '--admin-port', String(await freePort()), '--audit-file', '/dev/null', ...extra],
  path.join(dir, `${name}.log`), { ...ROUTER_ENV, LOG_LEVEL: 'warn' });
  return { child, port };
}

async function ready(port: number, body: string, headers: Record<string, string>): Promise<void> {
  await poll(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    await res?.arrayBuffer();
    return res?.status === 200 ? true : undefined;
  }, 60_000, 'the router to answer');
}

/** Microseconds to build and write one audit line. */
function auditLineCost(): number {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const writer = new AuditWriter(undefined, sink);
  const rec = {
    time: new Date().toISOString(), requestId: '6f1c1c3e-5a61-4c4e-9d53-2b1f7d3c9a10', client: 'team-a/apps/web', model: MODEL, engine: 'vllm',
    dataClass: 'internal' as const, decision: 'routed' as const, target: 'team-a/bench', provider: 'in-cluster', status: 200,
    tokens: { prompt: 250, completion: 1, cached: 0 }, costUsd: 0.000251, latencyMs: 1.234,
  };
  for (let i = 0; i < 20_000; i++) writer.write(auditLine(rec));
  const n = 200_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) writer.write(auditLine(rec));
  return ((performance.now() - t) * 1000) / n;
}

export const routerPolicy: Benchmark = {
  name: 'router-policy',
  group: 'router',
  title: 'model router policy: added latency of key check, class filter, limits (1,000 req/s, 1 KB body) vs anonymous; cache-hit latency; audit line cost',
  async run(ctx) {
    const dir = ctx.scratch('router-policy');
    const children: Child[] = [];
    try {
      const backends = [await freePort(), await freePort()];
      for (const [i, p] of backends.entries()) children.push(startNode(['-e', BACKEND, String(p)], path.join(dir, `backend-${i}.log`)));
      const anonNs = await namespaceWithBackend(ctx, backends[0], false);
      const keyedNs = await namespaceWithBackend(ctx, backends[1], true);
      const uncached = chatBody(0.7);
      const cached = chatBody(0);
      const uncachedFile = path.join(dir, 'chat.json');
      const cachedFile = path.join(dir, 'chat-cached.json');
      writeFileSync(uncachedFile, uncached);
      writeFileSync(cachedFile, cached);
      const auth = { authorization: `Bearer ${KEY}` };
      const authHeader = [`Authorization: Bearer ${KEY}`];
      ctx.log(`  router node flags: ${routerNodeArgs().join(' ') || '(none: V8 defaults)'}; environment ${JSON.stringify(ROUTER_ENV)}`);
      const anon = await startRouter(ctx, dir, 'router-anonymous', anonNs, ['--cache-ttl', '0s']);
      const keyed = await startRouter(ctx, dir, 'router-keyed', keyedNs, ['--cache-ttl', '0s']);
      const cache = await startRouter(ctx, dir, 'router-cache', keyedNs, [], cpuProfArgs(ctx, 'router-cache'));
      const traced = await startRouter(ctx, dir, 'router-cache-traced', keyedNs, [], ['--trace-gc-nvp']);
      children.push(anon.child, keyed.child, cache.child, traced.child);
      await ready(anon.port, uncached, {});
      await ready(keyed.port, uncached, auth);
      await ready(cache.port, cached, auth);
      await ready(traced.port, cached, auth);

      const runs = { anonymous: [] as Load[], keyed: [] as Load[] };
      for (const side of ['anonymous', 'keyed', 'keyed', 'anonymous'] as const) {
        const l = side === 'keyed' ? await load(ctx, keyed.port, uncachedFile, authHeader) : await load(ctx, anon.port, uncachedFile, []);
        ctx.log(`  ${side} at ${RATE} req/s: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, ok ${l.ok}, failed ${l.bad}`);
        runs[side].push(l);
      }
      const best = (ls: Load[]) => ls.reduce((a, b) => (b.p99 < a.p99 ? b : a));
      const a = best(runs.anonymous);
      const k = best(runs.keyed);
      const hitRuns: Load[] = [];
      for (let i = 0; i < 2; i++) {
        const l = await load(ctx, cache.port, cachedFile, authHeader);
        ctx.log(`  cache hits at ${RATE} req/s: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, ok ${l.ok}, failed ${l.bad}`);
        hitRuns.push(l);
      }
      const hits = best(hitRuns);
      const checked = 200;
      const hitCount = await cacheHits(cache.port, cached, auth, checked);
      ctx.log(`  ${hitCount} of ${checked} checked answers were hits`);
      const traceStart = statSync(traced.child.logPath).size;
      const tracedHits = await load(ctx, traced.port, cachedFile, authHeader);
      const gc = collectionsSince(traced.child.logPath, traceStart);
      ctx.log(`  cache hits under the GC trace at ${RATE} req/s: p50 ${tracedHits.p50.toFixed(3)} ms, p99 ${tracedHits.p99.toFixed(3)} ms, ok ${tracedHits.ok}, failed ${tracedHits.bad}`);
      ctx.log(`  traced cache router: ${gc.scavenges} young-generation collections (${gc.pauseMs.toFixed(1)} ms of pauses), ${(gc.allocated / 1024 / 1024).toFixed(1)} MiB allocated over ${tracedHits.answered} hits`);
      const audit = auditLineCost();
      ctx.log(`  audit line: ${audit.toFixed(2)} µs to build and write`);
      const failed = a.bad + k.bad + hitRuns.reduce((n, l) => n + l.bad, 0) + tracedHits.bad;
      return [
        row('router-policy: added p50 (keyed − anonymous)', k.p50 - a.p50, 'ms', 'report', a.p50),
        row('router-policy: added p99 (keyed − anonymous)', k.p99 - a.p99, 'ms', '≤ 0.3', a.p99),
        row('router-policy: cache hit p50', hits.p50, 'ms', 'report'),
        row('router-policy: cache hit p99', hits.p99, 'ms', '≤ 1'),
        row('router-policy: cache hits / answers', hitCount / checked, 'ratio', '1'),
        row('router-policy: cache hit p99 under the GC trace', tracedHits.p99, 'ms', 'report'),
        row('router-policy: bytes allocated per cache hit', gc.allocated / tracedHits.answered / 1024, 'KiB', 'report'),
        row('router-policy: young-generation collections per 10,000 cache hits', (gc.scavenges * 10_000) / tracedHits.answered, 'count', 'report'),
        row('router-policy: young-generation pauses per 10,000 cache hits', (gc.pauseMs * 10_000) / tracedHits.answered, 'ms', 'report'),
        row('router-policy: audit line build + write', audit, 'µs', 'report'),
        row('router-policy: failed requests', failed, 'count', '0'),
      ];
    } finally {
      await Promise.all(children.map((c) => c.stop()));
    }
  },
};
