/**
 * Benchmark 1: `agentway synth` of 1,000 mixed CRs as a whole process (start-up, parsing, rendering, YAML,
 * files), against a naive cdk8s program for the same CRs run the same way (bench/naive-synth.ts). Both are
 * run once to warm the page cache, then alternately; the median of the timed runs is reported. Where the
 * time goes inside our process is measured in this process.
 */
import { readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { readDocuments, yamlFiles } from '../controller/cli/synth.js';
import { renderConfig } from '../manifests/config.js';
import { synthesize } from '../manifests/synth.js';
import { Benchmark, Row, cpuProfArgs, median, mixedCrs, now, row, timeProcess } from './lib.js';

const COUNT = Number(process.env.BENCH_SYNTH_CRS ?? 1000);
const RUNS = Number(process.env.BENCH_SYNTH_RUNS ?? 3);

export const synth: Benchmark = {
  name: 'synth',
  title: `synth of ${COUNT.toLocaleString('en')} mixed CRs, whole process, vs one naive cdk8s App`,
  async run(ctx) {
    const programs = ctx.programs();
    const dir = ctx.scratch('synth');
    const input = path.join(dir, 'in');
    mkdirSync(input);
    const crs = mixedCrs(COUNT, { namespace: 'bench', replicas: 2 });
    for (const cr of crs) writeFileSync(path.join(input, `${cr.kind.toLowerCase()}-${cr.metadata.name}.yaml`), stringify(cr));
    ctx.log(`  ${crs.length} CR files in ${input}; programs run ${programs.mode}`);

    const ours = (i: number, prof: boolean) => {
      const out = path.join(dir, `ours-${i}`);
      rmSync(out, { recursive: true, force: true });
      return timeProcess(process.execPath, [...(prof ? cpuProfArgs(ctx, 'synth-agentway') : []), ...programs.cli, 'synth', '-f', input, '-o', out], path.join(dir, 'ours.log'));
    };
    const naive = (i: number, prof: boolean) => {
      const out = path.join(dir, `naive-${i}`);
      rmSync(out, { recursive: true, force: true });
      return timeProcess(process.execPath, [...(prof ? cpuProfArgs(ctx, 'synth-naive') : []), ...programs.bench('naive-synth'), input, out], path.join(dir, 'naive.log'));
    };
    const startup = () => timeProcess(process.execPath, [...programs.cli, '--help'], path.join(dir, 'help.log'));

    await ours(0, false);
    await naive(0, false);
    const a: number[] = [];
    const b: number[] = [];
    const s: number[] = [];
    for (let i = 1; i <= RUNS; i++) {
      a.push(await ours(i, i === RUNS));
      b.push(await naive(i, i === RUNS));
      s.push(await startup());
    }
    const files = readdirSync(path.join(dir, `ours-${RUNS}`)).length;
    const naiveFiles = readdirSync(path.join(dir, `naive-${RUNS}`)).length;
    ctx.log(`  agentway ${a.map((x) => x.toFixed(0)).join(', ')} ms (${files} files); naive ${b.map((x) => x.toFixed(0)).join(', ')} ms (${naiveFiles} files)`);

    // Inside the process: parsing, rendering, and the YAML of the output.
    const docsStart = now();
    const { docs } = readDocuments(await yamlFiles([input]));
    const parsed = now();
    const config = renderConfig();
    synthesize(docs, config); // warm
    const renderStart = now();
    const result = synthesize(docs, config);
    const rendered = now();
    ctx.log(`  in-process: parse ${(parsed - docsStart).toFixed(0)} ms, synthesize ${(rendered - renderStart).toFixed(0)} ms for ${result.files.size} files`);

    const rows: Row[] = [
      row(`synth: agentway synth, ${COUNT.toLocaleString('en')} CRs, whole process`, median(a), 'ms', '≤ 0.2× naive', median(b)),
      row('synth: of which node start-up + CLI module load (agentway --help)', median(s), 'ms', 'info'),
      row(`synth: in-process render + YAML of ${COUNT.toLocaleString('en')} CRs (warm)`, rendered - renderStart, 'ms', 'info'),
    ];
    return rows;
  },
};
