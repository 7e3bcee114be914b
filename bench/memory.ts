/**
 * Benchmark 7: resident memory of the controller process after 10,000 CRs are reconciled. The controller
 * runs as its own process (the compiled CLI, as `npx agentway controller` runs it); 10,000 mixed CRs (pools
 * of 0 replicas, so no pods) are created 32 at a time while it runs. Reconciled means: every expected child
 * exists, the work queue is empty and the controller's object writes have not moved for 3 s. VmRSS and
 * VmHWM (peak) come from /proc/<pid>/status. The controller runs with the node flags and environment the installed
 * Deployment sets (CONTROLLER_NODE_OPTIONS, INSTALLED_ENV) unless BENCH_CONTROLLER_NODE_ARGS says otherwise (empty:
 * V8's defaults; the environment stays).
 *
 * The controller may be slow to answer, or exit: every poll has a timeout, a failed poll is logged and retried,
 * and an exit ends the wait with its exit code, the end of its log and the last RSS sampled. A run that did
 * not reconcile every CR writes no value (null) for the rows that need it, under the same row names.
 */
import path from 'node:path';
import { newNamespace } from '../test/env/kube.js';
import { CONTROLLER_NODE_OPTIONS, INSTALLED_ENV } from '../manifests/server-deployment.js';
import {
  Benchmark, Obj, childPath, cpuProfArgs, createAll, freePort, expectedChildren, httpStatus, mixedCrs, now, poll, processMemory, row, sleep, startNode, tail,
} from './lib.js';

const COUNT = Number(process.env.BENCH_MEMORY_CRS ?? 10_000);
const RECONCILE_TIMEOUT_MS = Number(process.env.BENCH_MEMORY_TIMEOUT_S ?? 480) * 1000;
const POLL_TIMEOUT_MS = 5000;

/** The controller's metrics text, or why there is none (timeout, refused, …). */
async function scrape(url: string): Promise<{ text: string } | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    return { text: await res.text() };
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return { error: `${e.name}: ${e.message}${e.cause ? ` (${e.cause.message})` : ''}` };
  }
}

/** RSS and peak of a process that may have exited (NaN then). */
function memoryOf(pid: number): { rss: number; peak: number } {
  try {
    return processMemory(pid);
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/** The V8 old-space limit (MiB) among node flags, for the info row; null when V8 picks it. */
function heapLimit(args: readonly string[]): number | null {
  const flag = args.find((a) => a.startsWith('--max-old-space-size='));
  return flag ? Number(flag.split('=')[1]) : null;
}

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
    const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? CONTROLLER_NODE_OPTIONS).split(' ').filter(Boolean);
    ctx.log(`  controller node flags: ${nodeArgs.join(' ') || '(none: V8 defaults)'}; environment ${JSON.stringify(INSTALLED_ENV)}`);
    const controller = startNode([
      ...nodeArgs, ...cpuProfArgs(ctx, 'controller-10k'), ...ctx.programs().cli, 'controller', '--kubeconfig', kubeconfigPath, '--namespace', ns, '--no-leader-elect',
      '--gateway-namespace', ns, '--route-server-namespace', ns, '--metrics-port', String(metricsPort), '--probe-port', String(probePort),
    ], path.join(dir, 'controller.log'), { ...INSTALLED_ENV, LOG_LEVEL: 'warn' });
    const exitOf = () => controller.process.exitCode ?? controller.process.signalCode;
    let lastMem = { rss: NaN, peak: NaN };
    const sample = () => {
      const m = memoryOf(controller.pid);
      if (!Number.isNaN(m.rss)) lastMem = m;
      return lastMem;
    };
    // Sampled often, so that an exit is reported with the memory it had just before.
    const sampler = setInterval(sample, 250);
    /** Why the controller is gone, with what it said last and its memory then. */
    const exitReport = () => `the controller exited (${exitOf()}) with RSS ${lastMem.rss.toFixed(0)} MiB, peak ${lastMem.peak.toFixed(0)} MiB `
      + `at the last sample; the end of its log (${controller.logPath}):\n${tail(controller.logPath, 12)}`;
    const rows = (idle: number | null, rss: number | null, peak: number | null, seconds: number | null) => [
      row(`memory: controller RSS after ${COUNT.toLocaleString('en')} CRs reconciled`, rss, 'MiB', '≤ 200 MiB'),
      row('memory: controller peak RSS (VmHWM) during the same', peak, 'MiB', 'info'),
      row('memory: controller RSS with no CRs', idle, 'MiB', 'info'),
      row(`memory: create + reconcile ${COUNT.toLocaleString('en')} CRs`, seconds, 's', 'info'),
      row('memory: controller V8 heap limit (--max-old-space-size; none: V8 default)', heapLimit(nodeArgs), 'MiB', 'info'),
    ];
    try {
      try {
        await poll(async () => (exitOf() !== null ? true : (await httpStatus(`http://127.0.0.1:${probePort}/readyz`)) === 200 ? true : undefined), 60_000, 'the controller to be ready');
      } catch (err) {
        ctx.log(`  the controller never became ready: ${(err as Error).message}; RSS ${sample().rss.toFixed(0)} MiB; the end of its log:\n${tail(controller.logPath, 12)}`);
        return rows(null, null, null, null);
      }
      if (exitOf() !== null) { ctx.log(`  ${exitReport()}`); return rows(null, null, null, null); }
      // Let start-up garbage settle before the idle sample.
      await sleep(2000);
      const idle = sample();
      ctx.log(`  controller pid ${controller.pid} ready, RSS ${idle.rss.toFixed(0)} MiB`);

      const crs = mixedCrs(COUNT, { namespace: ns, replicas: 0 });
      const expected = expectedChildren(crs);
      const t0 = now();
      await createAll(kube, crs, 32);
      ctx.log(`  created ${crs.length} CRs in ${((now() - t0) / 1000).toFixed(1)} s, RSS ${sample().rss.toFixed(0)} MiB`);

      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      let lastWrites = -1;
      let quietSince = Date.now();
      let complete = false;
      let children = -1;
      let failedPolls = 0;
      let lastText = '';
      let lastLog = Date.now();
      const deadline = Date.now() + RECONCILE_TIMEOUT_MS;
      while (Date.now() < deadline) {
        await sleep(1000);
        const mem = sample();
        if (exitOf() !== null) break;
        const got = await scrape(metricsUrl);
        if ('error' in got) {
          failedPolls++;
          ctx.log(`  metrics did not answer (${got.error}) after ${((now() - t0) / 1000).toFixed(0)} s; RSS ${mem.rss.toFixed(0)} MiB; ${failedPolls} failed polls`);
          continue;
        }
        lastText = got.text;
        const writes = metricSum(got.text, 'agentway_object_writes_total');
        const depth = metricSum(got.text, 'workqueue_depth');
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          ctx.log(`  after ${((now() - t0) / 1000).toFixed(0)} s: ${writes} writes, queue ${depth}, RSS ${mem.rss.toFixed(0)} MiB`);
        }
        if (writes !== lastWrites || depth > 0) { lastWrites = writes; quietSince = Date.now(); continue; }
        if (Date.now() - quietSince < 3000) continue;
        children = (await Promise.all((['Deployment', 'Service', 'HTTPRoute'] as const).map((k) => countAll(kube, childPath(k, ns))))).reduce((a, b) => a + b, 0);
        if (children >= expected.size) { complete = true; break; }
      }
      const reconcileS = (now() - t0) / 1000;
      const mem = sample();
      if (exitOf() !== null) {
        ctx.log(`  after ${reconcileS.toFixed(1)} s, ${exitReport()}`);
        return rows(idle.rss, null, null, null);
      }
      const final = await scrape(metricsUrl);
      const text = 'text' in final ? final.text : lastText;
      const reconciles = metricSum(text, 'controller_runtime_reconcile_total');
      const heap = metricSum(text, 'nodejs_heap_size_used_bytes') / 1024 ** 2;
      ctx.log(`  ${complete ? 'reconciled' : `NOT fully reconciled (${children < 0 ? 'the writes never stopped for 3 s' : `${children}/${expected.size} children at the last count`}; no value written)`} after ${reconcileS.toFixed(1)} s: `
        + `${reconciles} reconciles, ${metricSum(text, 'agentway_object_writes_total')} writes, ${failedPolls} failed polls; `
        + `RSS ${mem.rss.toFixed(0)} MiB, peak ${mem.peak.toFixed(0)} MiB, heap used ${heap.toFixed(0)} MiB`);
      if (!complete) ctx.log(`  the end of the controller's log:\n${tail(controller.logPath, 12)}`);
      return complete ? rows(idle.rss, mem.rss, mem.peak, reconcileS) : rows(idle.rss, null, null, null);
    } finally {
      clearInterval(sampler);
      await controller.stop();
    }
  },
};
