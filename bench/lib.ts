/**
 * Shared pieces of the benchmarks: the result row, the control plane of a run, mixed CR sets, watches that
 * timestamp what the API server shows, bounded concurrent creation, child processes and statistics.
 * Benchmarks report numbers; nothing here asserts on a time.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { renderConfig } from '../manifests/config.js';
import { ApiError, KubeClient, WatchEvent } from '../controller/kube/kube-client.js';
import { Manager } from '../controller/reconciler/manager.js';
import type { ControlPlane } from '../test/env/control-plane.js';

export const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** One line of the results table and of bench/results.json. */
export interface Row {
  readonly name: string;
  readonly value: number | null;
  readonly unit: string;
  /** The same quantity for the baseline measured in the same run, when there is one. */
  readonly baseline: number | null;
  /** value / baseline. */
  readonly ratio: number | null;
  /** What the value should reach (reported, never asserted). */
  readonly target: string;
}

export function row(name: string, value: number | null, unit: string, target: string, baseline: number | null = null): Row {
  const ratio = value !== null && baseline !== null && baseline !== 0 ? round(value / baseline, 3) : null;
  return { name, value: value === null ? null : round(value, 3), unit, baseline: baseline === null ? null : round(baseline, 3), ratio, target };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What every benchmark gets: the run's control plane (started on first use), scratch space and a log. */
export interface BenchContext {
  cluster(): Promise<Cluster>;
  /** Compiled JavaScript of the CLI and of the bench programs run as child processes. */
  programs(): Programs;
  /** A fresh directory under the run's scratch directory. */
  scratch(name: string): string;
  log(message: string): void;
  /** Directory for `--cpu-prof` output of child processes, when profiling was asked for. */
  readonly cpuProfDir?: string;
  /** Whether a benchmark of this name is still to run in this run. */
  willRun(name: string): boolean;
  /** State a later benchmark of the same run may reuse (the cold-start namespace for the resync). */
  readonly shared: Map<string, unknown>;
}

export interface Benchmark {
  readonly name: string;
  readonly title: string;
  /** Also run when this other benchmark is named (`npm run bench -- router` runs router-policy too). */
  readonly group?: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

export interface Cluster {
  readonly controlPlane: ControlPlane;
  readonly kubeconfigPath: string;
  /** The benchmark's own client (never the controller's). */
  readonly kube: KubeClient;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** Value at quantile `q` (0..1) of `values`, nearest-rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function machine(): { nproc: number; cpu: string; memoryGiB: number; node: string; kubectl: string } {
  let kubectl = 'not found';
  try {
    kubectl = JSON.parse(execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).clientVersion.gitVersion;
  } catch { /* not installed */ }
  return { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: round(totalmem() / 1024 ** 3, 1), node: process.version, kubectl };
}

// ---------------------------------------------------------------------------------------------------------
// Custom resources

export type Obj = Record<string, any>;
export const CR_API_VERSION = 'agentway.dev/v1alpha1';
const PLURALS: Record<string, string> = { Agent: 'agents', ModelAPI: 'modelapis', MCPServer: 'mcpservers', ClientPool: 'clientpools', ClientInstance: 'clientinstances' };

export function crPath(kind: string, namespace: string, name?: string): string {
  return `/apis/agentway.dev/v1alpha1/namespaces/${namespace}/${PLURALS[kind]}${name ? `/${name}` : ''}`;
}

export function childPath(kind: 'Deployment' | 'Service' | 'HTTPRoute', namespace: string, name?: string): string {
  const suffix = name ? `/${name}` : '';
  switch (kind) {
    case 'Deployment': return `/apis/apps/v1/namespaces/${namespace}/deployments${suffix}`;
    case 'Service': return `/api/v1/namespaces/${namespace}/services${suffix}`;
    case 'HTTPRoute': return `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes${suffix}`;
  }
}

export interface MixOptions {
  readonly namespace: string;
  /** Replicas of every pool. 0 keeps kube-controller-manager from creating pods during a measurement. */
  readonly replicas: number;
}

/**
 * `count` CRs in the proportions 4 Agents : 2 ModelAPIs (two pools each, GPU and CPU) : 3 MCPServers : 1
 * ClientPool, in creation order (what Agents reference comes first). Agents reference a ModelAPI and an
 * MCPServer of the same set.
 */
export function mixedCrs(count: number, opts: MixOptions): Obj[] {
  const tenths = (k: number) => Math.floor((count * k) / 10);
  const models = Math.max(1, tenths(2));
  const mcps = Math.max(1, tenths(3));
  const pools = tenths(1);
  const agents = count - models - mcps - pools;
  const meta = (name: string) => ({ name, namespace: opts.namespace });
  const pad = (i: number) => String(i).padStart(5, '0');
  const r = opts.replicas;
  const out: Obj[] = [];
  for (let i = 0; i < models; i++) {
    out.push({
      apiVersion: CR_API_VERSION, kind: 'ModelAPI', metadata: meta(`llm-${pad(i)}`),
      spec: {
        image: 'vllm/vllm-openai:v0.6.3', args: ['--model', `meta-llama/model-${i}`], port: 8000, models: [`model-${i}`], ownedBy: 'vllm',
        health: { path: '/health' },
        pools: [
          { name: 'gpu', replicas: r, resources: { gpu: 1, cpu: '8', memory: '64Gi' }, nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' } },
          { name: 'cpu', replicas: r, resources: { cpu: '4', memory: '16Gi' } },
        ],
        capacity: { source: 'replicas' },
        gatewayRoute: { timeout: '300s' },
      },
    });
  }
  for (let i = 0; i < mcps; i++) {
    out.push({
      apiVersion: CR_API_VERSION, kind: 'MCPServer', metadata: meta(`mcp-${pad(i)}`),
      spec: { image: 'ghcr.io/acme/mcp-search:0.4', port: 3000, replicas: r, resources: { cpu: '250m', memory: '256Mi' }, gatewayRoute: { timeout: '45s' } },
    });
  }
  for (let i = 0; i < pools; i++) {
    out.push({
      apiVersion: CR_API_VERSION, kind: 'ClientPool', metadata: meta(`pool-${pad(i)}`),
      spec: {
        template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080, resources: { cpu: '1', memory: '2Gi' }, health: { path: '/healthz' } },
        apiKeys: { secretRef: { name: `pool-${pad(i)}-keys` } }, idleTimeout: '30m', maxInstancesPerClient: 3, maxInstances: 100,
      },
    });
  }
  for (let i = 0; i < agents; i++) {
    out.push({
      apiVersion: CR_API_VERSION, kind: 'Agent', metadata: meta(`agent-${pad(i)}`),
      spec: {
        image: 'ghcr.io/acme/agent:1.2', port: 8000, replicas: r,
        modelAPI: `llm-${pad(i % models)}`, mcpServers: [`mcp-${pad(i % mcps)}`],
        env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'provider-keys', key: 'openai' } } }],
        resources: { cpu: '500m', memory: '1Gi' }, health: { path: '/health' },
      },
    });
  }
  return out;
}

/** Names of the Deployments, Services and HTTPRoutes the CRs of `mixedCrs` render to, as `Kind/name`. */
export function expectedChildren(crs: readonly Obj[]): Set<string> {
  const out = new Set<string>();
  for (const cr of crs) {
    const name = cr.metadata.name;
    switch (cr.kind) {
      case 'ModelAPI':
        for (const p of cr.spec.pools) { out.add(`Deployment/modelapi-${name}-${p.name}`); out.add(`Service/modelapi-${name}-${p.name}`); }
        out.add(`HTTPRoute/modelapi-${name}`);
        break;
      case 'MCPServer': case 'Agent': {
        const base = `${cr.kind === 'Agent' ? 'agent' : 'mcp'}-${name}`;
        out.add(`Deployment/${base}`); out.add(`Service/${base}`); out.add(`HTTPRoute/${base}`);
        break;
      }
      case 'ClientPool':
        out.add(`HTTPRoute/client-${name}`);
        break;
    }
  }
  return out;
}

/** Creates `objects` with at most `inFlight` requests at once; 409 (exists) counts as created. */
export async function createAll(kube: KubeClient, objects: readonly Obj[], inFlight = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const o = objects[next++];
      for (let attempt = 0; ; attempt++) {
        try {
          await kube.request('POST', crPath(o.kind, o.metadata.namespace), { body: o });
          break;
        } catch (err) {
          if (err instanceof ApiError && err.status === 409) break;
          if (err instanceof ApiError && err.retriable && attempt < 5) { await sleep(100 * 2 ** attempt); continue; }
          throw err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, objects.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------------
// Watching what the API server shows

export interface Watch {
  /** Resolves once the initial list is in. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Lists `path`, then watches it from the list's resourceVersion, calling `onObject` with each object (and
 * `deleted`) and the time it arrived; re-watches when the server ends the stream.
 */
export function watchObjects(kube: KubeClient, path: string, onObject: (obj: Obj, at: number, deleted: boolean) => void): Watch {
  const abort = new AbortController();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => { resolveReady = r; });
  const loop = (async () => {
    let rv: string | undefined;
    while (!abort.signal.aborted) {
      try {
        if (!rv) {
          const list = await kube.request('GET', path, { query: { limit: 5000 } });
          const at = now();
          for (const item of list.items) onObject(item, at, false);
          rv = list.metadata.resourceVersion;
          resolveReady();
        }
        await kube.watch(path, { resourceVersion: rv, timeoutSeconds: 600 }, (e: WatchEvent) => {
          if (e.type === 'ERROR') { rv = undefined; throw new Error(e.object?.message ?? 'watch error'); }
          rv = e.object?.metadata?.resourceVersion ?? rv;
          if (e.type === 'BOOKMARK') return;
          onObject(e.object, now(), e.type === 'DELETED');
        }, abort.signal);
      } catch {
        if (abort.signal.aborted) break;
        await sleep(50);
      }
    }
  })();
  return { ready, async stop() { abort.abort(); await loop; } };
}

/** Resolves when `check()` is true, checked every 5 ms; rejects after `timeoutMs`. */
export function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const started = Date.now();
    const t = setInterval(() => {
      if (check()) { clearInterval(t); resolve(); } else if (Date.now() - started > timeoutMs) {
        clearInterval(t);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }
    }, 5);
  });
}

/** Polls `fn` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function poll<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The controller, in this process (its client's request counts are what the resync benchmark reads)

export interface BenchController {
  readonly manager: Manager;
  readonly client: KubeClient;
  stop(): Promise<void>;
}

/** The real Manager with the CLI's defaults (4 workers), scoped to one namespace, Gateway in that namespace. */
export async function startController(kubeconfigPath: string, namespace: string): Promise<BenchController> {
  const client = KubeClient.fromDefault(kubeconfigPath);
  const manager = new Manager({
    client,
    config: renderConfig({ gateway: { namespace }, routeServer: { namespace } }),
    log: pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }),
    namespace,
    identity: `bench-${namespace}`,
    leaderElection: false,
    onLostLeadership: () => undefined,
  });
  await manager.start();
  return { manager, client, stop: async () => { await manager.stop(); client.close(); } };
}

/** Sum of a prom-client counter's values. */
export async function counterTotal(manager: Manager, name: string): Promise<number> {
  const metric = manager.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((s, v) => s + v.value, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

export interface Programs {
  /** `node` arguments that run the agentway CLI. */
  readonly cli: readonly string[];
  /** `node` arguments that run a bench program (`naive-synth`, `load-client`). */
  bench(name: string): readonly string[];
  /** How they run: `compiled` (tsc output) or `tsx`. */
  readonly mode: 'compiled' | 'tsx';
}

/**
 * Compiles the CLI and the bench programs with tsc into node_modules/.cache (so that packages resolve as
 * from the repository), which is how `npm run build` ships the CLI; falls back to `node --import tsx`.
 */
export function compilePrograms(log: (m: string) => void): Programs {
  const outDir = path.join(repoRoot, 'node_modules/.cache/agentway-bench');
  const entries = ['controller/cli.ts', 'bench/naive-synth.ts', 'bench/load-client.ts'];
  try {
    execFileSync(path.join(repoRoot, 'node_modules/.bin/tsc'), [
      '--outDir', outDir, '--rootDir', '.', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
      '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', ...entries,
    ], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    return {
      mode: 'compiled',
      cli: [path.join(outDir, 'controller/cli.js')],
      bench: (name) => [path.join(outDir, `bench/${name}.js`)],
    };
  } catch (err) {
    const e = err as { stdout?: Buffer; message: string };
    log(`tsc failed, running the programs through tsx instead: ${e.stdout?.toString().slice(0, 400) ?? e.message}`);
    return {
      mode: 'tsx',
      cli: ['--import', 'tsx', path.join(repoRoot, 'controller/cli.ts')],
      bench: (name) => ['--import', 'tsx', path.join(repoRoot, `bench/${name}.ts`)],
    };
  }
}

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly logPath: string;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // An interrupted run leaves no server or controller behind (the control plane has handlers of its own).
  process.once(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}

/** Runs a node program (a bench program such as `load-client`) and parses the JSON it prints. */
export function runJson(args: readonly string[]): Promise<Obj> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args.join(' ')}: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`no JSON in the output: ${stdout.slice(0, 300)}`)); }
    });
  });
}

/** Starts `node args…` with stdout and stderr in `logPath`; killed when this process exits. */
export function startNode(args: readonly string[], logPath: string, env: NodeJS.ProcessEnv = {}): Child {
  mkdirSync(path.dirname(logPath), { recursive: true });
  const fd = openSync(logPath, 'a');
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { children.delete(child); resolve(code); }));
  return {
    process: child, pid: child.pid!, logPath, exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Runs `cmd` to completion; resolves with its wall time in ms, rejects on a non-zero exit. */
export function timeProcess(cmd: string, args: readonly string[], logPath: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  mkdirSync(path.dirname(logPath), { recursive: true });
  const fd = openSync(logPath, 'a');
  const started = now();
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  children.add(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      const ms = now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? code}; log: ${logPath}\n${tail(logPath)}`));
    });
  });
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
export function processMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** `--cpu-prof` arguments for a child process, when profiling was asked for. */
export function cpuProfArgs(ctx: BenchContext, name: string): string[] {
  return ctx.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
}

/** GET `url` with a short timeout; the status code, or 0 when nothing answers. */
export async function httpStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** PIDs of the control plane's etcd, kube-apiserver and kube-controller-manager (found by their data directory). */
export function controlPlanePids(cluster: Cluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(cluster.controlPlane.dir)) continue;
    const bin = path.basename(cmdline.split('\0')[0]);
    if (['etcd', 'kube-apiserver', 'kube-controller-manager'].includes(bin)) out[bin] = Number(entry);
  }
  return out;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds used by each process from now until the returned function is called. */
export function cpuMeter(pids: Record<string, number>): () => Record<string, number> {
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  return () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, round(cpuSeconds(pid) - start[k], 2)]));
}

/**
 * When profiling was asked for, profiles this process (where the in-process controller runs) until the
 * returned function is called, and writes `<name>.cpuprofile` into the profile directory.
 */
export async function profileThisProcess(ctx: BenchContext, name: string): Promise<() => Promise<void>> {
  if (!ctx.cpuProfDir) return async () => undefined;
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<any>((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result)));
  });
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 1000 });
  await post('Profiler.start');
  return async () => {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    writeFileSync(path.join(ctx.cpuProfDir!, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}
