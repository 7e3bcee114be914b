/**
 * Benchmark 7: resident memory of the controller process after 10,000 CRs are reconciled. The controller
 * runs as its own process (the compiled CLI, as `npx agentway controller` runs it); 10,000 mixed CRs (pools
 * of 0 replicas, so no pods) are created 32 at a time while it runs. Reconciled means: every expected child
 * exists, the work queue is empty and the controller's object writes have not moved for 3 s. VmRSS and
 * VmHWM (peak) come from /proc/<pid>/status.
 */
import path from 'node:path';
import { newNamespace } from '../test/env/kube.js';
import { ApiError } from '../controller/kube/kube-client.js';
import {
  Benchmark, Obj, childPath, cpuProfArgs, createAll, freePort, expectedChildren, httpStatus, mixedCrs, now, poll, processMemory, row, sleep, startNode, tail,
} from './lib.js';

const COUNT = Number(process.env.BENCH_MEMORY_CRS ?? 10_000);
const RECONCILE_TIMEOUT_MS = Number(process.env.BENCH_MEMORY_TIMEOUT_S ?? 480) * 1000;

/** Sum of each sample of `name` in a Prometheus text exposition. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function countAll(kube: Parameters<typeof createAll>[0], listPath: string): Promise<number> {
  let n = 0;
  let cont: string | undefined;
  do {
    const page: Obj = await kube.request('GET', listPath, { query: { limit: 5000, continue: cont } });
    n += page.items.length;
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return n;
}

export const memory: Benchmark = {
  name: 'memory',
  title: `controller RSS after ${COUNT.toLocaleString('en')} CRs are reconciled`,
  async run(ctx) {
    const { kube, kubeconfigPath } = await ctx.cluster();
    const ns = await newNamespace('bench-memory');
    const dir = ctx.scratch('memory');
    const [metricsPort, probePort] = [await freePort(), await freePort()];
    // BENCH_CONTROLLER_NODE_ARGS, e.g. --max-old-space-size=192, shows how much of the RSS is garbage V8 keeps.
    const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const controller = startNode([
      ...nodeArgs, ...cpuProfArgs(ctx, 'controller-10k'), ...ctx.programs().cli, 'controller', '--kubeconfig', kubeconfigPath, '--namespace', ns, '--no-leader-elect',
      '--gateway-namespace', ns, '--route-server-namespace', ns, '--metrics-port', String(metricsPort), '--probe-port', String(probePort),
    ], path.join(dir, 'controller.log'), { LOG_LEVEL: 'warn' });
    try {
      await poll(async () => ((await httpStatus(`http://127.0.0.1:${probePort}/readyz`)) === 200 ? true : undefined), 60_000, 'the controller to be ready');
      const idle = processMemory(controller.pid);
      ctx.log(`  controller pid ${controller.pid} ready, RSS ${idle.rss.toFixed(0)} MiB`);

      const crs = mixedCrs(COUNT, { namespace: ns, replicas: 0 });
      const expected = expectedChildren(crs);
      const t0 = now();
      await createAll(kube, crs, 32);
      ctx.log(`  created ${crs.length} CRs in ${((now() - t0) / 1000).toFixed(1)} s`);

      const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      let lastWrites = -1;
      let quietSince = Date.now();
      let complete = false;
      let children = 0;
      const deadline = Date.now() + RECONCILE_TIMEOUT_MS;
      while (Date.now() < deadline) {
        await sleep(1000);
        if (controller.process.exitCode !== null || controller.process.signalCode !== null) {
          throw new Error(`the controller exited (${controller.process.exitCode ?? controller.process.signalCode}); the end of its log:\n${tail(controller.logPath, 8)}`);
        }
        const text = await metrics();
        const writes = metricSum(text, 'agentway_object_writes_total');
        const depth = metricSum(text, 'workqueue_depth');
        if (writes !== lastWrites || depth > 0) { lastWrites = writes; quietSince = Date.now(); continue; }
        if (Date.now() - quietSince < 3000) continue;
        children = (await Promise.all((['Deployment', 'Service', 'HTTPRoute'] as const).map((k) => countAll(kube, childPath(k, ns))))).reduce((a, b) => a + b, 0);
        if (children >= expected.size) { complete = true; break; }
      }
      const reconcileS = (now() - t0) / 1000;
      const text = await metrics().catch((err: ApiError) => `# ${err.message}`);
      const reconciles = metricSum(text, 'controller_runtime_reconcile_total');
      const mem = processMemory(controller.pid);
      const heap = metricSum(text, 'nodejs_heap_size_used_bytes') / 1024 ** 2;
      const exited = controller.process.exitCode !== null ? `the controller exited (${controller.process.exitCode}); ` : '';
      ctx.log(`  ${exited}${complete ? 'reconciled' : 'NOT fully reconciled'} after ${reconcileS.toFixed(1)} s: ${children}/${expected.size} children, `
        + `${reconciles} reconciles, ${metricSum(text, 'agentway_object_writes_total')} writes; RSS ${mem.rss.toFixed(0)} MiB, peak ${mem.peak.toFixed(0)} MiB, heap used ${heap.toFixed(0)} MiB`);
      const label = complete ? `${COUNT.toLocaleString('en')} CRs` : `${COUNT.toLocaleString('en')} CRs (only ${children}/${expected.size} children after ${reconcileS.toFixed(0)} s)`;
      return [
        row(`memory: controller RSS after ${label} reconciled`, mem.rss, 'MiB', '≤ 200 MiB'),
        row('memory: controller peak RSS (VmHWM) during the same', mem.peak, 'MiB', 'info'),
        row('memory: controller RSS with no CRs', idle.rss, 'MiB', 'info'),
        row(`memory: create + reconcile ${COUNT.toLocaleString('en')} CRs`, reconcileS, 's', 'info'),
      ];
    } finally {
      await controller.stop();
    }
  },
};
