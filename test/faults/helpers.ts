/**
 * What the fault tests share: a storm of CR creates and updates that outlasts the fault it runs through,
 * the controller as a separate process (to kill -9), and the two checks every scenario ends with: every CR
 * has converged (observedGeneration == generation, its Deployment as its spec says), and afterwards an
 * unchanged CR gets no write.
 */
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { CliProcess, startCli } from '../env/cli-process.js';
import { Obj, pathOf } from '../env/objects.js';

export const FAULT_TIMEOUT = 120_000;

export interface StormCr {
  readonly kind: 'Agent' | 'MCPServer';
  readonly name: string;
}

/** `n` CRs, alternately Agents and MCPServers. */
export function stormCrs(n: number, prefix = 's'): StormCr[] {
  return Array.from({ length: n }, (_, i) => ({ kind: i % 2 === 0 ? 'Agent' : 'MCPServer', name: `${prefix}${i}` }));
}

const image = (cr: StormCr) => (cr.kind === 'Agent' ? 'ghcr.io/acme/agent:1.2' : 'ghcr.io/acme/mcp:1.0');

/** Whether waiting helps: the API server is down, restarting, throttling or timing out. */
function transient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true; // connection refused or reset
  return err.status === 429 || err.status >= 500 || err.status === 0;
}

/** `fn`, again and again while the failure is one that waiting helps. */
export async function persist<T>(fn: () => Promise<T>, timeoutMs = FAULT_TIMEOUT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!transient(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Creates the CR; one created by an earlier try whose answer was lost counts as created. */
export async function createCr(kube: KubeClient, ns: string, cr: StormCr, replicas = 1): Promise<void> {
  await persist(() => kube.request('POST', pathOf(cr.kind, ns), {
    body: { apiVersion: 'agentway.dev/v1alpha1', kind: cr.kind, metadata: { name: cr.name }, spec: { image: image(cr), replicas } },
  }).catch((err) => {
    if (err instanceof ApiError && err.status === 409) return undefined;
    throw err;
  }));
}

/** Sets the CR's replicas (a spec change: its generation grows). */
export async function scaleCr(kube: KubeClient, ns: string, cr: StormCr, replicas: number): Promise<void> {
  await persist(() => kube.request('PATCH', pathOf(cr.kind, ns, cr.name), {
    body: { spec: { replicas } }, contentType: 'application/merge-patch+json',
  }));
}

/**
 * Runs `ops` with at most `concurrency` in flight, calling `midway` once `at` of them have finished (the
 * fault goes there), and waiting for it before the rest finish.
 */
export async function storm(ops: Array<() => Promise<void>>, concurrency: number, at: number, midway: () => Promise<void>): Promise<void> {
  let next = 0;
  let done = 0;
  let fault: Promise<void> | undefined;
  const worker = async () => {
    while (next < ops.length) {
      await ops[next++]();
      if (++done === at) fault = midway();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await fault;
}

const segment = (kind: StormCr['kind']) => (kind === 'Agent' ? 'agent' : 'mcp');

/** The CRs (of `crs`) that have not converged yet, each with why; empty when all have. */
export async function notConverged(kube: KubeClient, ns: string, crs: readonly StormCr[]): Promise<string[]> {
  const [agents, mcps, deployments] = await Promise.all([
    kube.request('GET', pathOf('Agent', ns)), kube.request('GET', pathOf('MCPServer', ns)), kube.request('GET', pathOf('Deployment', ns)),
  ]);
  const live = new Map<string, Obj>([
    ...agents.items.map((o: Obj) => [`Agent/${o.metadata.name}`, o] as const),
    ...mcps.items.map((o: Obj) => [`MCPServer/${o.metadata.name}`, o] as const),
  ]);
  const deps = new Map<string, Obj>(deployments.items.map((d: Obj) => [d.metadata.name, d]));
  return crs.flatMap((cr) => {
    const o = live.get(`${cr.kind}/${cr.name}`);
    if (!o) return [`${cr.kind}/${cr.name}: missing`];
    const ready = (o.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
    if (o.status?.observedGeneration !== o.metadata.generation || ready?.observedGeneration !== o.metadata.generation) {
      return [`${cr.kind}/${cr.name}: observedGeneration ${o.status?.observedGeneration} of ${o.metadata.generation}`];
    }
    const d = deps.get(`${segment(cr.kind)}-${cr.name}`);
    if (d?.spec?.replicas !== o.spec.replicas) return [`${cr.kind}/${cr.name}: Deployment replicas ${d?.spec?.replicas} for ${o.spec.replicas}`];
    return [];
  });
}

/**
 * What only agentway writes, for every CR and child in the namespace: equal snapshots mean it wrote
 * nothing. A CR's and a Service's resourceVersion; a Deployment's generation, since kube-controller-manager
 * keeps writing its status.
 */
export async function versions(kube: KubeClient, ns: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const kind of ['Agent', 'MCPServer', 'Deployment', 'Service', 'HTTPRoute']) {
    for (const o of (await kube.request('GET', pathOf(kind, ns))).items as Obj[]) {
      out[`${kind}/${o.metadata.name}`] = kind === 'Deployment' ? `generation ${o.metadata.generation}` : o.metadata.resourceVersion;
    }
  }
  return out;
}

/** The controller as its own process (`agentway controller`), on one namespace, without leader election. */
export class ControllerProcess {
  private process?: CliProcess;
  public metricsPort = 0;

  public constructor(private readonly kubeconfig: string, private readonly namespace: string, private readonly extraArgs: string[] = []) {}

  /** Its log lines so far. */
  public get log(): readonly string[] {
    return this.process?.log ?? [];
  }

  /** Starts it; resolves once it has said it started. */
  public async start(): Promise<void> {
    this.process = await startCli(['controller', '--kubeconfig', this.kubeconfig, '--namespace', this.namespace,
      '--no-leader-elect', '--host', '127.0.0.1', '--metrics-port', '0', '--probe-port', '0',
      '--gateway-namespace', this.namespace, '--route-server-namespace', this.namespace, ...this.extraArgs,
    ], { startedMessage: 'controller started' });
    this.metricsPort = this.process.started.metricsPort;
  }

  /** Ends it with `signal` and waits until it is gone. */
  public async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.process?.stop(signal);
  }

  /** Sums of its counters: reconciles done and objects written. */
  public async counters(): Promise<{ reconciles: number; writes: number }> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    return { reconciles: sum('controller_runtime_reconcile_total'), writes: sum('agentway_object_writes_total') };
  }
}
