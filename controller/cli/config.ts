/** Render configuration from command-line flags and environment variables, shared by every command. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { TimeoutKey } from '../../manifests/api.js';
import { RenderConfig, renderConfig } from '../../manifests/config.js';
import { DURATION } from '../../manifests/crds.js';
import { DEFAULT_GATEWAY_CLASS, DEFAULT_GATEWAY_NAME, DEFAULT_GATEWAY_PORT, DEFAULT_NAMESPACE } from '../../manifests/defaults.js';

export interface RenderFlags {
  readonly gatewayName?: string;
  readonly gatewayNamespace?: string;
  readonly gatewayClass?: string;
  readonly gatewayPort?: number;
  readonly gatewayUrl?: string;
  readonly createGateway?: boolean;
  readonly routeServerNamespace?: string;
  readonly defaultAgentTimeout?: string;
  readonly defaultModelapiTimeout?: string;
  readonly defaultMcpTimeout?: string;
  readonly traefik?: boolean;
  readonly traefikEntryPoint?: string[];
  readonly allowedTolerations?: string[];
  readonly allowedNodeSelectors?: string[];
}

/** A comma-separated list; the empty string is the empty list. */
function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function duration(value: string): string {
  if (!new RegExp(DURATION).test(value)) throw new InvalidArgumentError(`must be a duration such as "30s", "5m" or "1h30m", got "${value}"`);
  return value;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`must be a port number, got "${value}"`);
  return n;
}

const TIMEOUT_ENV: Record<Exclude<TimeoutKey, 'client'>, string> = {
  agent: 'GATEWAY_DEFAULT_AGENT_TIMEOUT',
  modelapi: 'GATEWAY_DEFAULT_MODELAPI_TIMEOUT',
  mcp: 'GATEWAY_DEFAULT_MCP_TIMEOUT',
};

/** Adds the flags every command shares; the timeout flags also read their GATEWAY_DEFAULT_* variables. */
export function addRenderFlags(cmd: Command): Command {
  return cmd
    .option('--gateway-name <name>', 'Gateway the routes attach to', DEFAULT_GATEWAY_NAME)
    .option('--gateway-namespace <namespace>', 'namespace of that Gateway', DEFAULT_NAMESPACE)
    .option('--gateway-class <class>', 'GatewayClass of the Gateway agentway creates', DEFAULT_GATEWAY_CLASS)
    .addOption(new Option('--gateway-port <port>', 'HTTP listener port of the Gateway').default(DEFAULT_GATEWAY_PORT).argParser(port))
    .option('--gateway-url <url>', 'URL workloads reach the Gateway at (default: http://<name>.<namespace>.svc)')
    .option('--create-gateway', 'render the Gateway itself (default)', true)
    .option('--no-create-gateway', 'attach routes to an existing Gateway instead')
    .option('--route-server-namespace <namespace>', 'namespace of the route server Service', DEFAULT_NAMESPACE)
    .addOption(new Option('--default-agent-timeout <duration>', 'route timeout of Agents that set none').env(TIMEOUT_ENV.agent).argParser(duration))
    .addOption(new Option('--default-modelapi-timeout <duration>', 'route timeout of ModelAPIs that set none').env(TIMEOUT_ENV.modelapi).argParser(duration))
    .addOption(new Option('--default-mcp-timeout <duration>', 'route timeout of MCPServers that set none').env(TIMEOUT_ENV.mcp).argParser(duration))
    .addOption(new Option('--allowed-tolerations <keys>', 'refuse CRs that tolerate a taint whose key is not in this comma-separated list (default: any toleration)').argParser(list))
    .addOption(new Option('--allowed-node-selectors <labels>', 'refuse CRs whose nodeSelector uses a label not in this comma-separated list of key or key=value (default: any)').argParser(list));
}

export function renderConfigFromFlags(flags: RenderFlags): RenderConfig {
  return renderConfig({
    gateway: {
      name: flags.gatewayName,
      namespace: flags.gatewayNamespace,
      className: flags.gatewayClass,
      port: flags.gatewayPort,
      url: flags.gatewayUrl,
      create: flags.createGateway,
    },
    defaultTimeouts: { agent: flags.defaultAgentTimeout, modelapi: flags.defaultModelapiTimeout, mcp: flags.defaultMcpTimeout },
    routeServer: { namespace: flags.routeServerNamespace },
    traefik: { enabled: flags.traefik, entryPoints: flags.traefikEntryPoint },
    policy: { tolerationKeys: flags.allowedTolerations, nodeSelectors: flags.allowedNodeSelectors },
  });
}
