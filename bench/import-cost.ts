/**
 * What loading a module costs a process: RSS and V8 heap after `import()` of each module (or `a+b` of
 * several together) in a fresh node process, after garbage collection, less the same before it; median of 3.
 * Modules of the project are imported from the benchmarks' tsc output (as `npx agentway` runs after
 * `npm run build`), packages as the project resolves them.
 *
 * Usage: tsx bench/import-cost.ts [module ...]   (default: the controller command's modules and packages)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compilePrograms } from './lib.js';

/** What `agentway controller` loads, module by module, and all of it together. */
const CONTROLLER = [
  'commander', 'pino', 'prom-client', 'ajv', 'js-yaml', 'constructs', 'cdk8s', 'cdk8s-plus-28', '@kubernetes/client-node',
  './imports/k8s.js', './manifests/validate.js', './manifests/render.js', './manifests/install.js',
  './controller/kube/kube-client.js', './controller/common/log.js', './controller/common/metrics.js', './controller/reconciler/manager.js',
  './controller/cli/program.js',
  './controller/cli/program.js+./controller/kube/kube-client.js+./controller/common/log.js+./controller/reconciler/manager.js+./manifests/install.js',
];

/** Runs in the child: memory before, the imports, memory after. */
const PROBE = `
const measure = () => { globalThis.gc(); globalThis.gc(); const u = process.memoryUsage(); return { rss: u.rss / 2 ** 20, heap: u.heapUsed / 2 ** 20 }; };
const before = measure();
for (const spec of JSON.parse(process.argv[1])) await import(spec);
const after = measure();
console.log(JSON.stringify({ rss: after.rss - before.rss, heap: after.heap - before.heap, total: after.rss }));
`;

interface Cost { readonly rss: number; readonly heap: number; readonly total: number }

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function importCost(root: string, module: string): Cost {
  const specs = module.split('+').map((m) => (m.startsWith('.') ? pathToFileURL(path.join(root, m)).href : m));
  const runs: Cost[] = [];
  for (let i = 0; i < 3; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', PROBE, JSON.stringify(specs)], { cwd: root });
    runs.push(JSON.parse(out.toString()) as Cost);
  }
  return { rss: median(runs.map((r) => r.rss)), heap: median(runs.map((r) => r.heap)), total: median(runs.map((r) => r.total)) };
}

const programs = compilePrograms((m) => process.stderr.write(`${m}\n`));
if (programs.mode !== 'compiled') throw new Error('the CLI did not compile; import costs need the compiled modules');
// The compiled CLI is <root>/controller/cli.js.
const root = path.dirname(path.dirname(programs.cli[0]));
const modules = process.argv.slice(2).length > 0 ? process.argv.slice(2) : CONTROLLER;
console.log('| module | RSS | V8 heap | process RSS after |\n|---|--:|--:|--:|');
for (const m of modules) {
  const c = importCost(root, m);
  console.log(`| \`${m.replaceAll('+', ' + ')}\` | +${c.rss.toFixed(1)} MiB | +${c.heap.toFixed(1)} MiB | ${c.total.toFixed(0)} MiB |`);
}
