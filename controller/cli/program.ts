/** The `agentway` command line: each command a thin wrapper around the render core or the controller. */
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  DEFAULT_GATEWAY_CLASS, DEFAULT_GATEWAY_NAME, DEFAULT_GATEWAY_PORT, DEFAULT_IMAGE, DEFAULT_NAMESPACE, LEASE_NAME, PORTS,
} from '../../manifests/defaults.js';
import { RenderFlags, addRenderFlags, renderConfigFromFlags } from './config.js';

// Each command loads what it needs when it runs: synth never pays for the Kubernetes client, the
// controller never for the YAML writer.

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
    .requiredOption('-f, --file <path...>', 'CR files or directories (searched for *.yaml, *.yml); - reads standard input')
    .option('-o, --output <dir>', 'output directory; - writes one YAML stream to standard output', process.env.CDK8S_OUTDIR ?? 'dist')
    .option('--traefik', 'also render a Traefik forwardAuth Middleware and IngressRoute for per-client pods')
    .option('--traefik-entry-point <name...>', 'entry points of the Traefik IngressRoute (default: web)')
    .action(async (opts: RenderFlags & { file: string[]; output: string }) => {
      const { formatSynthError } = await import('../../manifests/synth.js');
      const { STANDARD_STREAM, synthFiles, synthStream } = await import('./synth.js');
      const toStdout = opts.output === STANDARD_STREAM;
      let result;
      try {
        result = toStdout
          ? await synthStream(opts.file, renderConfigFromFlags(opts), process.stdout)
          : await synthFiles(opts.file, opts.output, renderConfigFromFlags(opts));
      } catch (err) {
        fail(`agentway synth: ${(err as Error).message}`);
      }
      for (const source of result.skipped) process.stderr.write(`${source}: skipped (not an agentway.dev resource)\n`);
      if (result.errors.length > 0) fail(result.errors.map(formatSynthError).join('\n'));
      for (const w of result.warnings) process.stderr.write(`warning: ${formatSynthError(w)}\n`);
      process.stderr.write(toStdout ? `wrote the documents of ${result.files.size} file(s) to standard output\n` : `wrote ${result.files.size} file(s) to ${opts.output}\n`);
    });

  cli.command('crds')
    .description('print the agentway CustomResourceDefinitions as YAML')
    .action(async () => {
      const [{ crdObjects }, { toYaml }] = await Promise.all([import('../../manifests/crds.js'), import('../../manifests/yaml.js')]);
      process.stdout.write(toYaml(crdObjects()));
    });

  addRenderFlags(cli.command('install'))
    .description('print the controller\'s own manifests (Namespace, CRDs, RBAC, Deployment, Service) for kubectl or Argo CD')
    .option('--namespace <namespace>', 'namespace of the controller', DEFAULT_NAMESPACE)
    .option('--image <image>', `image of the controller, route server and router (default: ${DEFAULT_IMAGE}, as \`npm run image\` builds it)`)
    .addOption(new Option('--replicas <n>', 'controller replicas (one leads)').default(2).argParser(positiveInt))
    .action(async (opts: RenderFlags & { namespace: string; image?: string; replicas: number }) => {
      const [{ renderInstall }, { toYaml }] = await Promise.all([import('../../manifests/install.js'), import('../../manifests/yaml.js')]);
      process.stdout.write(toYaml(renderInstall({
        namespace: opts.namespace, image: opts.image, replicas: opts.replicas, controllerArgs: passThroughFlags(opts),
        routing: renderConfigFromFlags(opts),
      })));
    });

  addRenderFlags(cli.command('controller'))
    .description('run the controller: watch agentway CRs, render, server-side apply, prune, write status')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster)')
    .option('--namespace <namespace>', 'watch one namespace only (default: all)')
    .addOption(new Option('--workers <n>', 'concurrent reconciles').default(4).argParser(positiveInt))
    .option('--no-leader-elect', 'run without leader election (one replica only)')
    .option('--leader-election-namespace <namespace>', 'namespace of the Lease', DEFAULT_NAMESPACE)
    .option('--identity <name>', 'name of this replica (default: $POD_NAME or the host name)')
    .addOption(new Option('--metrics-port <port>', 'port of /metrics').default(PORTS.controllerMetrics).argParser(positiveInt))
    .addOption(new Option('--probe-port <port>', 'port of /healthz and /readyz').default(PORTS.controllerProbes).argParser(positiveInt))
    .option('--host <address>', 'address the metrics and probe endpoints bind (default: every interface)')
    .addOption(new Option('--resync <seconds>', 'reconcile every CR again this often').default(600).argParser(positiveInt))
    .action(async (opts: RenderFlags & {
      kubeconfig?: string; namespace?: string; workers: number; leaderElect: boolean; leaderElectionNamespace: string;
      identity?: string; metricsPort: number; probePort: number; host?: string; resync: number;
    }) => {
      const [{ KubeClient }, { newLogger }, { Manager }] = await Promise.all([
        import('../kube/kube-client.js'), import('../common/log.js'), import('../reconciler/manager.js'),
      ]);
      const log = newLogger();
      const manager = new Manager({
        client: KubeClient.fromDefault(opts.kubeconfig),
        config: renderConfigFromFlags(opts),
        log,
        namespace: opts.namespace,
        workers: opts.workers,
        identity: opts.identity ?? process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`,
        leaderElection: opts.leaderElect ? { namespace: opts.leaderElectionNamespace, name: LEASE_NAME } : false,
        resyncMs: opts.resync * 1000,
        metricsPort: opts.metricsPort,
        probePort: opts.probePort,
        host: opts.host,
      });
      const shutdown = () => { void manager.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      await manager.start();
      log.info({ metricsPort: manager.ports.metrics, probePort: manager.ports.probes }, 'controller started');
    });

  cli.command('route-server')
    .description('run the client-pod route server: forwardAuth on /api/route, provisioning, idle cleanup')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster)')
    .option('--namespace <namespace>', 'serve one namespace\'s ClientPools only (default: all)')
    .addOption(new Option('--port <port>', 'listen port').default(PORTS.routeServer).argParser(positiveInt))
    .option('--host <address>', 'address to bind (default: every interface)')
    .addOption(new Option('--headers-timeout <seconds>', 'a client must send its request headers within this time').default(10).argParser(positiveInt))
    .addOption(new Option('--request-timeout <seconds>', 'a client must send its whole request within this time').default(60).argParser(positiveInt))
    .addOption(new Option('--activity-flush <seconds>', 'write lastActivityTime at most this often').default(30).argParser(positiveInt))
    .addOption(new Option('--reap-interval <seconds>', 'look for idle instances this often').default(10).argParser(positiveInt))
    .addOption(new Option('--provision-rate <n>', 'new instances per second per pool').default(10).argParser(positiveInt))
    .addOption(new Option('--provision-burst <n>', 'burst of new instances per pool').default(20).argParser(positiveInt))
    .action(async (opts: {
      kubeconfig?: string; namespace?: string; port: number; host?: string; headersTimeout: number; requestTimeout: number;
      activityFlush: number; reapInterval: number; provisionRate: number; provisionBurst: number;
    }) => {
      const [{ KubeClient }, { newLogger }, { RouteServer }] = await Promise.all([
        import('../kube/kube-client.js'), import('../common/log.js'), import('../route-server/server.js'),
      ]);
      const log = newLogger();
      const server = new RouteServer({
        client: KubeClient.fromDefault(opts.kubeconfig), log, namespace: opts.namespace, port: opts.port, host: opts.host,
        headersTimeoutMs: opts.headersTimeout * 1000, requestTimeoutMs: opts.requestTimeout * 1000,
        activityFlushMs: opts.activityFlush * 1000, reapIntervalMs: opts.reapInterval * 1000,
        provisionPerSecond: opts.provisionRate, provisionBurst: opts.provisionBurst,
        identity: process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`,
      });
      const shutdown = () => { void server.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      await server.start();
      log.info({ address: server.address, port: server.port }, 'route server started');
    });

  cli.command('router')
    .description('run the model router: OpenAI-compatible API that routes by model and owned_by to the ModelAPIs serving them')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster)')
    .option('--namespace <namespace>', 'serve one namespace\'s ModelAPIs and ModelRoutes only (default: all)')
    .option('--host <address>', 'address the listeners bind', '0.0.0.0')
    .addOption(new Option('--port <port>', 'port of the OpenAI API').default(PORTS.router).argParser(positiveInt))
    .addOption(new Option('--metrics-port <port>', 'port of /metrics, /healthz and /readyz').default(PORTS.routerMetrics).argParser(positiveInt))
    .addOption(new Option('--admin-port <port>', 'port of the admin API').default(PORTS.routerAdmin).argParser(positiveInt))
    .option('--admin-token-secret <namespace/name>', 'Secret whose key "token" is the admin API bearer token (without it the admin API is off)')
    .option('--default-modelapi-timeout <duration>', 'upstream timeout of a ModelAPI without gatewayRoute.timeout', '120s')
    .option('--redis-url <url>', 'Redis shared by the replicas for limits and the response cache (default: in memory, per replica)')
    .option('--audit-file <path>', 'write audit lines to this file instead of stdout')
    .option('--audit-content', 'put prompt and completion text in audit lines', false)
    .addOption(new Option('--default-max-tokens <n>', 'completion tokens reserved against tokensPerMinute for a request without max_tokens').default(1024).argParser(positiveInt))
    .option('--cache-ttl <duration>', 'how long cached answers are kept; 0s turns the cache off', '5m')
    .action(async (opts: {
      kubeconfig?: string; namespace?: string; host: string; port: number; metricsPort: number; adminPort: number; adminTokenSecret?: string; defaultModelapiTimeout: string;
      redisUrl?: string; auditFile?: string; auditContent: boolean; defaultMaxTokens: number; cacheTtl: string;
    }) => {
      const [{ KubeClient }, { newLogger }, { Router }, { durationMs }, { DURATION }] = await Promise.all([
        import('../kube/kube-client.js'), import('../common/log.js'), import('../router/server.js'), import('../../manifests/pools.js'), import('../../manifests/crds.js'),
      ]);
      if (opts.adminTokenSecret !== undefined && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(opts.adminTokenSecret)) {
        fail(`agentway router: --admin-token-secret must be <namespace>/<name>, got "${opts.adminTokenSecret}"`);
      }
      if (!new RegExp(DURATION).test(opts.defaultModelapiTimeout)) fail(`agentway router: --default-modelapi-timeout must be a duration such as "120s", got "${opts.defaultModelapiTimeout}"`);
      if (!new RegExp(DURATION).test(opts.cacheTtl)) fail(`agentway router: --cache-ttl must be a duration such as "5m", got "${opts.cacheTtl}"`);
      if (opts.redisUrl !== undefined && !/^rediss?:\/\//.test(opts.redisUrl)) fail('agentway router: --redis-url must start with redis:// or rediss://');
      const log = newLogger();
      const router = new Router({
        client: KubeClient.fromDefault(opts.kubeconfig), log, namespace: opts.namespace, host: opts.host,
        port: opts.port, metricsPort: opts.metricsPort, defaultTimeoutMs: durationMs(opts.defaultModelapiTimeout),
        adminPort: opts.adminPort, adminTokenSecret: opts.adminTokenSecret,
        redisUrl: opts.redisUrl, auditFile: opts.auditFile, auditContent: opts.auditContent, defaultMaxTokens: opts.defaultMaxTokens,
        cacheTtlMs: durationMs(opts.cacheTtl),
      });
      const shutdown = () => { void router.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      await router.start();
      log.info({ port: router.port, metricsPort: router.metricsPort, adminPort: router.adminPort || 'off', namespace: opts.namespace ?? '(all)' }, 'model router started');
    });

  return cli;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative integer, got "${value}"`);
  return n;
}

/** The render flags given to `install`, passed on to the controller it installs. */
function passThroughFlags(opts: RenderFlags): string[] {
  const out: string[] = [];
  const add = (flag: string, v: string | number | undefined, dflt?: string | number) => { if (v !== undefined && v !== dflt) out.push(`${flag}=${v}`); };
  add('--gateway-name', opts.gatewayName, DEFAULT_GATEWAY_NAME);
  add('--gateway-namespace', opts.gatewayNamespace, DEFAULT_NAMESPACE);
  add('--gateway-class', opts.gatewayClass, DEFAULT_GATEWAY_CLASS);
  add('--gateway-port', opts.gatewayPort, DEFAULT_GATEWAY_PORT);
  add('--gateway-url', opts.gatewayUrl);
  if (opts.createGateway === false) out.push('--no-create-gateway');
  add('--route-server-namespace', opts.routeServerNamespace, DEFAULT_NAMESPACE);
  add('--default-agent-timeout', opts.defaultAgentTimeout);
  add('--default-modelapi-timeout', opts.defaultModelapiTimeout);
  add('--default-mcp-timeout', opts.defaultMcpTimeout);
  add('--allowed-tolerations', opts.allowedTolerations?.join(','));
  add('--allowed-node-selectors', opts.allowedNodeSelectors?.join(','));
  return out;
}


