/**
 * Benchmark 2: CR change → all children applied. An Agent's replicas and route timeout are patched 200 times,
 * one change at a time; each sample runs from just before the PATCH is sent to the moment watches on the
 * namespace's Deployments and HTTPRoutes have delivered both new values. Before the next change the
 * controller's status write for the previous one is awaited, so samples do not queue behind each other.
 */
import { Benchmark, Obj, childPath, crPath, now, quantile, row, sleep, startController, waitFor, watchObjects, CR_API_VERSION } from './lib.js';
import { newNamespace } from '../test/env/kube.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);
const WARMUP = 10;

export const change: Benchmark = {
  name: 'change',
  title: `CR change → all children applied, p50/p99 over ${CHANGES} changes`,
  async run(ctx) {
    const { kube, kubeconfigPath } = await ctx.cluster();
    const ns = await newNamespace('bench-change');
    const name = 'target';
    // Each value with the time the watch event carrying it arrived: samples end there, not at a poll.
    let replicas: number | undefined;
    let replicasAt = 0;
    let timeout: string | undefined;
    let timeoutAt = 0;
    let observedGeneration = 0;
    const watches = [
      watchObjects(kube, childPath('Deployment', ns), (o, at) => {
        if (o.metadata.name === `agent-${name}` && o.spec?.replicas !== replicas) { replicas = o.spec?.replicas; replicasAt = at; }
      }),
      watchObjects(kube, childPath('HTTPRoute', ns), (o, at) => {
        const t = o.spec?.rules?.[0]?.timeouts?.request;
        if (o.metadata.name === `agent-${name}` && t !== timeout) { timeout = t; timeoutAt = at; }
      }),
      watchObjects(kube, crPath('Agent', ns), (o) => { if (o.metadata.name === name) observedGeneration = o.status?.observedGeneration ?? 0; }),
    ];
    const controller = await startController(kubeconfigPath, ns);
    try {
      await Promise.all(watches.map((w) => w.ready));
      const created: Obj = await kube.request('POST', crPath('Agent', ns), {
        body: { apiVersion: CR_API_VERSION, kind: 'Agent', metadata: { name }, spec: { image: 'ghcr.io/acme/agent:1.2', port: 8000, replicas: 1, gatewayRoute: { timeout: '100s' } } },
      });
      await waitFor(() => replicas === 1 && timeout === '100s' && observedGeneration === created.metadata.generation, 30_000, 'the Agent\'s children');

      const samples: number[] = [];
      for (let i = 0; i < WARMUP + CHANGES; i++) {
        const want = { replicas: 1 + (i % 2 === 0 ? 1 : 0), timeout: `${101 + i}s` };
        const t0 = now();
        const patched: Obj = await kube.request('PATCH', crPath('Agent', ns, name), {
          body: { spec: { replicas: want.replicas, gatewayRoute: { timeout: want.timeout } } }, contentType: 'application/merge-patch+json',
        });
        await waitFor(() => replicas === want.replicas && timeout === want.timeout, 30_000, `change ${i}`);
        const ms = Math.max(replicasAt, timeoutAt) - t0;
        if (i >= WARMUP) samples.push(ms);
        await waitFor(() => observedGeneration >= patched.metadata.generation, 30_000, `status of change ${i}`);
        await sleep(20);
      }
      ctx.log(`  min ${Math.min(...samples).toFixed(1)} ms, max ${Math.max(...samples).toFixed(1)} ms`);
      return [
        row(`change: CR change → children applied, p50 (${CHANGES} changes)`, quantile(samples, 0.5), 'ms', '≤ 50 ms'),
        row(`change: CR change → children applied, p99 (${CHANGES} changes)`, quantile(samples, 0.99), 'ms', '≤ 250 ms'),
      ];
    } finally {
      await controller.stop();
      await Promise.all(watches.map((w) => w.stop()));
    }
  },
};
