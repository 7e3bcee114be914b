/** The `agentway` command line: each command a thin wrapper around the render core or the controller. */
import { Command } from 'commander';
import { crdObjects } from '../manifests/crds.js';
import { formatSynthError, toYaml } from '../manifests/synth.js';
import { RenderFlags, addRenderFlags, renderConfigFromFlags } from './config.js';
import { synthFiles } from './synth.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

export function program(): Command {
  const cli = new Command('agentway')
    .description('Puts Agents, ModelAPIs, MCP servers and per-client pods behind one Gateway API Gateway.')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  addRenderFlags(cli.command('synth'))
    .description('render CR YAML files into Kubernetes manifests, one file per CR plus one for shared objects')
    .requiredOption('-f, --file <path...>', 'CR files or directories (searched for *.yaml, *.yml)')
    .option('-o, --output <dir>', 'output directory', process.env.CDK8S_OUTDIR ?? 'dist')
    .action(async (opts: RenderFlags & { file: string[]; output: string }) => {
      let result;
      try {
        result = await synthFiles(opts.file, opts.output, renderConfigFromFlags(opts));
      } catch (err) {
        fail(`agentway synth: ${(err as Error).message}`);
      }
      for (const source of result.skipped) process.stderr.write(`${source}: skipped (not an agentway.dev resource)\n`);
      if (result.errors.length > 0) fail(result.errors.map(formatSynthError).join('\n'));
      process.stderr.write(`wrote ${result.files.size} file(s) to ${opts.output}\n`);
    });

  cli.command('crds')
    .description('print the agentway CustomResourceDefinitions as YAML')
    .action(() => { process.stdout.write(toYaml(crdObjects())); });

  return cli;
}


