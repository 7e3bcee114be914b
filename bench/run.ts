/**
 * `npm run bench [-- name…] [-- --cpu-prof]`: runs the benchmarks (all, or the named ones) against one test
 * control plane, prints one table and merges the rows into bench/results.json. Benchmarks report; they
 * never assert.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeClient } from '../controller/kube/kube-client.js';
import { startTestCluster } from '../test/env/test-cluster.js';
import { KUBECONFIG_ENV } from '../test/env/kube.js';
import { coldStart, resync } from './cold-start.js';
import { capacity } from './capacity.js';
import { change } from './change.js';
import { BenchContext, Benchmark, Cluster, Programs, Row, compilePrograms, machine, repoRoot } from './lib.js';
import { memory } from './memory.js';
import { routeServer } from './route-server.js';
import { router } from './router.js';
import { routerPolicy } from './router-policy.js';
import { synth } from './synth.js';

// Those that need pods come before those that create thousands of Deployments: kube-controller-manager
// works through those at its client rate limit (20 requests/s) for many minutes, and new pods wait behind them.
const BENCHMARKS: readonly Benchmark[] = [synth, change, capacity, routeServer, router, routerPolicy, coldStart, resync, memory];
const RESULTS = path.join(repoRoot, 'bench/results.json');

function usage(): string {
  return `usage: tsx bench/run.ts [--cpu-prof] [${BENCHMARKS.map((b) => b.name).join(' | ')}]…\n`
    + BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.title}`).join('\n');
}

function formatNumber(v: number | null): string {
  if (v === null) return '—';
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function table(rows: readonly Row[]): string {
  const cells = rows.map((r) => [r.name, formatNumber(r.value), r.unit, formatNumber(r.baseline), r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`, r.target]);
  const head = ['benchmark', 'value', 'unit', 'baseline', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 1 || i === 3 || i === 4 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 1 || i === 3 || i === 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...cells.map(line)].join('\n');
}

/** Rows of this run replace rows of the same name; rows of benchmarks not run are kept. */
function mergeResults(rows: readonly Row[]): Row[] {
  let previous: Row[] = [];
  try {
    previous = JSON.parse(readFileSync(RESULTS, 'utf8'));
  } catch { /* first run */ }
  const names = new Set(rows.map((r) => r.name));
  const order = new Map(BENCHMARKS.map((b, i) => [b.name, i]));
  const kept = previous.filter((r) => !names.has(r.name));
  const prefix = (r: Row) => order.get(r.name.split(':')[0]) ?? 99;
  return [...kept, ...rows].sort((a, b) => prefix(a) - prefix(b));
}

/** The commit measured, and whether the work tree differed from it. */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'controller', 'manifests', 'imports', 'package.json'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return 'unknown revision';
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(`${usage()}\n`); return 0; }
  const profile = args.includes('--cpu-prof');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) { process.stderr.write(`unknown benchmark ${unknown.join(', ')}\n${usage()}\n`); return 2; }
  const selected = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => names.includes(b.name) || (b.group !== undefined && names.includes(b.group)));

  const started = Date.now();
  const scratch = mkdtempSync(path.join(tmpdir(), 'agentway-bench-'));
  const cpuProfDir = profile ? path.join(repoRoot, 'bench/profiles') : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const log = (m: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);
  let cluster: Promise<Cluster> | undefined;
  let programs: Programs | undefined;
  let n = 0;
  let current = -1;
  const ctx: BenchContext = {
    cluster() {
      cluster ??= (async () => {
        log('starting the control plane (etcd, kube-apiserver, kube-controller-manager)');
        const controlPlane = await startTestCluster();
        process.env[KUBECONFIG_ENV] = controlPlane.kubeconfigPath;
        log(`control plane up in ${controlPlane.timings.total} ms (${controlPlane.dir})`);
        return { controlPlane, kubeconfigPath: controlPlane.kubeconfigPath, kube: KubeClient.fromDefault(controlPlane.kubeconfigPath) };
      })();
      return cluster;
    },
    programs() {
      programs ??= compilePrograms(log);
      return programs;
    },
    scratch(name: string) {
      const dir = path.join(scratch, `${String(++n).padStart(2, '0')}-${name}`);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    log,
    willRun: (name) => selected.slice(current + 1).some((b) => b.name === name),
    cpuProfDir,
    shared: new Map(),
  };

  const m = machine();
  const rev = revision();
  log(`machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, node ${m.node}, kubectl ${m.kubectl}; code at ${rev}`);
  const rows: Row[] = [];
  const failures: string[] = [];
  try {
    for (const b of selected) {
      current++;
      log(`— ${b.name}: ${b.title}`);
      const t = Date.now();
      try {
        const got = await b.run(ctx);
        rows.push(...got);
        for (const r of got) log(`  ${r.name}: ${r.value} ${r.unit}${r.baseline !== null ? ` (baseline ${r.baseline}, ratio ${r.ratio})` : ''}`);
      } catch (err) {
        failures.push(b.name);
        log(`  ${b.name} failed: ${(err as Error).stack ?? err}`);
      }
      log(`  ${b.name} took ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    for (const [, v] of ctx.shared) await (v as { stop?: () => Promise<void> })?.stop?.();
    if (cluster) {
      const c = await cluster.catch(() => undefined);
      c?.kube.close();
      await c?.controlPlane.stop();
      log('control plane stopped');
    }
    if (!process.env.BENCH_KEEP_SCRATCH) rmSync(scratch, { recursive: true, force: true });
  }

  if (rows.length > 0) writeFileSync(RESULTS, `${JSON.stringify(mergeResults(rows), null, 2)}\n`);
  process.stdout.write(`\nagentway benchmarks at ${rev} — ${m.nproc} cores, ${m.memoryGiB} GiB, node ${m.node}, ${((Date.now() - started) / 1000).toFixed(0)} s\n\n`);
  process.stdout.write(`${table(rows)}\n`);
  if (cpuProfDir) process.stdout.write(`\nCPU profiles in ${cpuProfDir}\n`);
  if (failures.length > 0) {
    process.stdout.write(`\nfailed: ${failures.join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exit(await main());
