/**
 * Benchmark 5: capacity change → HTTPRoute weight updated. A ModelAPI has a GPU and a CPU pool, one pod each,
 * marked Ready with loopback addresses where real HTTP servers answer /capacity (source endpoint,
 * intervalSeconds 1). The answers flip between 3+1 and 1+3 idle workers (weights 75/25 and 25/75); each
 * sample runs from the flip to the arrival of the watch event of the route with the new weights. Flips are
 * spaced past the 2 s rewrite limit, plus a random part so that they land at every phase of the poll period.
 */
import http from 'node:http';
import { newNamespace, markPodsReady } from '../test/env/kube.js';
import { Benchmark, CR_API_VERSION, Obj, childPath, crPath, now, poll, quantile, row, sleep, startController, waitFor, watchObjects } from './lib.js';

const SAMPLES = Number(process.env.BENCH_CAPACITY_SAMPLES ?? 30);

export const capacity: Benchmark = {
  name: 'capacity',
  title: `capacity change → HTTPRoute weight updated, p50/p99 over ${SAMPLES} changes (intervalSeconds 1)`,
  async run(ctx) {
    const { kube, kubeconfigPath } = await ctx.cluster();
    const ns = await newNamespace('bench-capacity');
    const net = `127.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
    const answers: Record<string, number> = { gpu: 3, cpu: 1 };
    const servers: http.Server[] = [];
    let port = 0;
    for (const [pool, last] of [['gpu', 1], ['cpu', 2]] as const) {
      const server = http.createServer((req, res) => {
        res.writeHead(req.url === '/capacity' ? 200 : 404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ idle_workers: answers[pool] }));
      });
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, `${net}.${last}`, resolve); });
      port ||= (server.address() as { port: number }).port;
      servers.push(server);
    }

    let weights = '';
    let weightsAt = 0;
    const route = watchObjects(kube, childPath('HTTPRoute', ns), (o, at) => {
      if (o.metadata.name !== 'modelapi-llm') return;
      const w = (o.spec?.rules?.[0]?.backendRefs ?? []).map((b: Obj) => b.weight).join('/');
      if (w !== weights) { weights = w; weightsAt = at; }
    });
    const controller = await startController(kubeconfigPath, ns);
    try {
      await route.ready;
      await kube.request('POST', crPath('ModelAPI', ns), {
        body: {
          apiVersion: CR_API_VERSION, kind: 'ModelAPI', metadata: { name: 'llm' },
          spec: {
            image: 'vllm/vllm-openai:v0.6.3', port,
            pools: [{ name: 'gpu', replicas: 1, resources: { gpu: 1 } }, { name: 'cpu', replicas: 1, resources: { cpu: '4' } }],
            capacity: { source: 'endpoint', path: '/capacity', metric: 'idleWorkers', intervalSeconds: 1 },
          },
        },
      });
      for (const [pool, last] of [['gpu', 1], ['cpu', 2]] as const) {
        await poll(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'modelapi-llm', 'agentway.dev/pool': pool }, `${net}.${last}`), 60_000, `the ${pool} pod`, 200);
      }
      await waitFor(() => weights === '75/25', 60_000, 'the first weights');
      await sleep(2500);

      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const flip = i % 2 === 0;
        answers.gpu = flip ? 1 : 3;
        answers.cpu = flip ? 3 : 1;
        const want = flip ? '25/75' : '75/25';
        const t0 = now();
        await waitFor(() => weights === want, 30_000, `weights ${want}`);
        samples.push(weightsAt - t0);
        await sleep(2100 + Math.random() * 1000);
      }
      ctx.log(`  samples (ms): ${samples.map((s) => s.toFixed(0)).join(' ')}`);
      return [
        row(`capacity: capacity change → route weight, p50 (${SAMPLES} changes)`, quantile(samples, 0.5), 'ms', '≤ 1000 ms'),
        row(`capacity: capacity change → route weight, p99 (${SAMPLES} changes)`, quantile(samples, 0.99), 'ms', '≤ 1000 ms'),
      ];
    } finally {
      await controller.stop();
      await route.stop();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  },
};
