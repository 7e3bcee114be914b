/**
 * Benchmark 3: cold start. 1,000 mixed CRs exist; the controller starts and applies every child. The
 * baseline is `kubectl apply --server-side` of `agentway synth` output for the same CRs into a fresh
 * namespace, in the same run. Both are timed to the arrival of the watch event of the last expected
 * Deployment, Service and HTTPRoute; each side runs three times, in alternating order, each time in a fresh
 * namespace on a quiet control plane, and the medians are reported. Pools have 0 replicas, so
 * kube-controller-manager creates no pods on the same two cores during either measurement.
 *
 * Benchmark 4: writes during a resync. With the cold-start controller settled, every CR is queued again (as
 * the periodic resync does) and the controller client's writes are counted until the queue is drained.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { Manager } from '../controller/reconciler/manager.js';
import { newNamespace } from '../test/env/kube.js';
import {
  BenchContext, BenchController, Benchmark, Row, Watch, childPath, controlPlanePids, counterTotal, cpuMeter, createAll, expectedChildren, median, mixedCrs, now,
  poll, profileThisProcess, round, row, sleep,
  startController, timeProcess, waitFor, watchObjects,
} from './lib.js';

const COUNT = Number(process.env.BENCH_COLD_CRS ?? 1000);
const COLD_KEY = 'cold-start';
const ROUNDS = Number(process.env.BENCH_COLD_ROUNDS ?? 3);

interface Settled { readonly controller: BenchController; readonly namespace: string; readonly count: number; stop(): Promise<void> }

/** Watches the namespace's Deployments, Services and HTTPRoutes; `last` is when the last expected one arrived. */
function childWatch(ctx: BenchContext, kube: Parameters<typeof watchObjects>[0], ns: string, expected: ReadonlySet<string>) {
  const seen = new Set<string>();
  let last = 0;
  const kinds = ['Deployment', 'Service', 'HTTPRoute'] as const;
  const watches: Watch[] = kinds.map((kind) => watchObjects(kube, childPath(kind, ns), (o, at, deleted) => {
    const key = `${kind}/${o.metadata.name}`;
    if (deleted || !expected.has(key) || seen.has(key)) return;
    seen.add(key);
    last = at;
  }));
  return {
    ready: Promise.all(watches.map((w) => w.ready)),
    done: () => seen.size === expected.size,
    get seen() { return seen.size; },
    get last() { return last; },
    async stop() { await Promise.all(watches.map((w) => w.stop())); },
    log: () => ctx.log(`  ${seen.size}/${expected.size} children`),
  };
}

async function kubectlBaseline(ctx: BenchContext): Promise<number> {
  const { kube, kubeconfigPath } = await ctx.cluster();
  const ns = await newNamespace('bench-kubectl');
  const crs = mixedCrs(COUNT, { namespace: ns, replicas: 0 });
  const dir = ctx.scratch('cold-start-kubectl');
  const input = path.join(dir, 'crs');
  const output = path.join(dir, 'manifests');
  mkdirSync(input);
  writeFileSync(path.join(input, 'crs.yaml'), crs.map((c) => stringify(c)).join('---\n'));
  const programs = ctx.programs();
  await timeProcess(process.execPath, [...programs.cli, 'synth', '-f', input, '-o', output, '--gateway-namespace', ns, '--route-server-namespace', ns], path.join(dir, 'synth.log'));
  const watch = childWatch(ctx, kube, ns, expectedChildren(crs));
  await watch.ready;
  const meter = cpuMeter(controlPlanePids(await ctx.cluster()));
  const t0 = now();
  const exit = await timeProcess('kubectl', ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '-f', output], path.join(dir, 'kubectl.log'));
  await waitFor(watch.done, 60_000, 'kubectl\'s objects').catch((err) => { watch.log(); throw err; });
  const ms = watch.last - t0;
  ctx.log(`  kubectl apply --server-side: exited after ${exit.toFixed(0)} ms, last child seen at ${ms.toFixed(0)} ms; CPU s: ${JSON.stringify(meter())}`);
  await watch.stop();
  return ms;
}

async function controllerColdStart(ctx: BenchContext, profile: boolean): Promise<{ ms: number; settled: Settled; writes: number }> {
  const { kube, kubeconfigPath } = await ctx.cluster();
  const ns = await newNamespace('bench-cold');
  const crs = mixedCrs(COUNT, { namespace: ns, replicas: 0 });
  const t = now();
  await createAll(kube, crs);
  ctx.log(`  created ${crs.length} CRs in ${(now() - t).toFixed(0)} ms`);
  const watch = childWatch(ctx, kube, ns, expectedChildren(crs));
  await watch.ready;
  const meter = cpuMeter(controlPlanePids(await ctx.cluster()));
  const stopProfile = profile ? await profileThisProcess(ctx, 'coldstart-controller') : async () => undefined;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const controller = await startController(kubeconfigPath, ns);
  const synced = now() - t0;
  try {
    await waitFor(watch.done, 300_000, 'the controller\'s objects');
  } catch (err) {
    watch.log();
    await controller.stop();
    throw err;
  }
  const ms = watch.last - t0;
  const cpu = process.cpuUsage(cpu0);
  await stopProfile();
  ctx.log(`  controller: CPU s: ${JSON.stringify({ ...meter(), 'controller (this process)': round((cpu.user + cpu.system) / 1e6, 2) })}`);
  ctx.log(`  controller: caches synced after ${synced.toFixed(0)} ms, last child seen at ${ms.toFixed(0)} ms; ${controller.client.counts.writes} writes so far`);
  await watch.stop();
  const writes = controller.client.counts.writes;
  return { ms, writes, settled: { controller, namespace: ns, count: crs.length, stop: () => controller.stop() } };
}

/** Waits until the queue is empty and the writes stopped moving for `quietMs`. */
async function settle(manager: Manager, writes: () => number, quietMs: number, timeoutMs: number): Promise<void> {
  let last = writes();
  let since = Date.now();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(100);
    if (writes() !== last || manager.queue.length > 0) { last = writes(); since = Date.now(); continue; }
    if (Date.now() - since >= quietMs) return;
  }
  throw new Error(`the controller did not settle within ${timeoutMs} ms`);
}

/** Waits until etcd, kube-apiserver and kube-controller-manager together use under 20% of a core for 1 s. */
async function quiesce(ctx: BenchContext): Promise<void> {
  const pids = controlPlanePids(await ctx.cluster());
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const meter = cpuMeter(pids);
    await sleep(1000);
    if (Object.values(meter()).reduce((a, b) => a + b, 0) < 0.2) return;
  }
}

export const coldStart: Benchmark = {
  name: 'coldstart',
  title: `cold start: ${COUNT.toLocaleString('en')} CRs → all children applied, vs kubectl apply --server-side of synth output`,
  async run(ctx) {
    // Rounds alternate which goes first, and each starts on a quiet control plane, so that neither side
    // pays for the garbage and ReplicaSets the other left behind.
    const kubectl: number[] = [];
    const controller: number[] = [];
    let last: Awaited<ReturnType<typeof controllerColdStart>> | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['kubectl', 'controller'] : ['controller', 'kubectl'];
      for (const side of order) {
        await quiesce(ctx);
        if (side === 'kubectl') {
          kubectl.push(await kubectlBaseline(ctx));
        } else {
          await last?.settled.stop();
          last = await controllerColdStart(ctx, round === ROUNDS - 1);
          controller.push(last.ms);
        }
      }
    }
    ctx.log(`  kubectl ${kubectl.map((x) => x.toFixed(0)).join(', ')} ms; controller ${controller.map((x) => x.toFixed(0)).join(', ')} ms`);
    if (ctx.willRun('resync')) ctx.shared.set(COLD_KEY, last!.settled);
    else await last!.settled.stop();
    return [
      row(`coldstart: ${COUNT.toLocaleString('en')} CRs → all children applied (controller, median of ${ROUNDS})`, median(controller), 'ms', '≤ 1.0× kubectl', median(kubectl)),
      row('coldstart: controller writes until the last child appeared', last!.writes, 'writes', 'info'),
    ];
  },
};

export const resync: Benchmark = {
  name: 'resync',
  title: `writes during a resync of ${COUNT.toLocaleString('en')} unchanged CRs`,
  async run(ctx) {
    let settled = ctx.shared.get(COLD_KEY) as Settled | undefined;
    if (!settled) {
      ctx.log('  no cold-start controller in this run: starting one');
      const { kube, kubeconfigPath } = await ctx.cluster();
      const ns = await newNamespace('bench-resync');
      const crs = mixedCrs(COUNT, { namespace: ns, replicas: 0 });
      await createAll(kube, crs);
      const controller = await startController(kubeconfigPath, ns);
      settled = { controller, namespace: ns, count: crs.length, stop: () => controller.stop() };
    }
    ctx.shared.delete(COLD_KEY);
    try {
      return await measureResync(ctx, settled);
    } finally {
      await settled.stop();
    }
  },
};

async function measureResync(ctx: BenchContext, settled: Settled): Promise<Row[]> {
  const { manager, client } = settled.controller;
  // Every status written and every informer quiet: what a resync ten minutes later would find.
  await settle(manager, () => client.counts.writes, 3000, 300_000);
  const reconcilesBefore = await counterTotal(manager, 'controller_runtime_reconcile_total');
  const writesBefore = client.counts.writes;
  const readsBefore = client.counts.reads;
  const t0 = now();
  // What the resync timer does; the timer itself fires every --resync seconds (600).
  manager.enqueueAll();
  await poll(async () => ((await counterTotal(manager, 'controller_runtime_reconcile_total')) - reconcilesBefore >= settled.count && manager.queue.length === 0 ? true : undefined), 300_000, 'the resync', 5);
  const ms = now() - t0;
  await sleep(1000);
  const writes = client.counts.writes - writesBefore;
  const reads = client.counts.reads - readsBefore;
  ctx.log(`  resync of ${settled.count} CRs: ${ms.toFixed(0)} ms, ${writes} writes, ${reads} reads`);
  return [
    row(`resync: writes during a resync of ${settled.count.toLocaleString('en')} unchanged CRs`, writes, 'writes', '0'),
    row(`resync: time to reconcile ${settled.count.toLocaleString('en')} unchanged CRs`, ms, 'ms', 'info'),
  ];
}
