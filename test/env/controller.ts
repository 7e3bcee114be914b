/** Runs the real controller in-process against the test control plane, scoped to one namespace. */
import { pino } from 'pino';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigOverrides, renderConfig } from '../../manifests/config.js';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { Manager, ManagerOptions } from '../../controller/reconciler/manager.js';
import { KUBECONFIG_ENV, deleteNamespace, kubeConfig, newNamespace } from './kube.js';

export interface TestController {
  readonly manager: Manager;
  /** The controller's own client: its request counts are the controller's writes. */
  readonly client: KubeClient;
  stop(): Promise<void>;
}

/** A client for test code itself, separate from the controller's. */
export function testClient(): KubeClient {
  const path = process.env[KUBECONFIG_ENV];
  if (!path) throw new Error(`${KUBECONFIG_ENV} is not set`);
  return KubeClient.fromDefault(path);
}

export async function startController(namespace: string, opts: {
  readonly config?: ConfigOverrides;
  readonly kubeConfig?: KubeConfig;
  readonly leaderElection?: ManagerOptions['leaderElection'];
  readonly identity?: string;
  readonly resyncMs?: number;
  readonly onLostLeadership?: () => void;
} = {}): Promise<TestController> {
  const client = new KubeClient(opts.kubeConfig ?? kubeConfig());
  const manager = new Manager({
    client,
    config: renderConfig({
      ...opts.config,
      gateway: { namespace, create: true, ...(opts.config?.gateway ?? {}) },
      routeServer: { namespace, ...(opts.config?.routeServer ?? {}) },
    }),
    log: pino({ level: process.env.AGENTWAY_TEST_LOG_LEVEL ?? 'silent' }),
    namespace,
    workers: 2,
    identity: opts.identity ?? `test-${namespace}`,
    leaderElection: opts.leaderElection ?? false,
    resyncMs: opts.resyncMs,
    metricsPort: 0,
    probePort: 0,
    onLostLeadership: opts.onLostLeadership ?? (() => undefined),
  });
  await manager.start();
  return { manager, client, stop: async () => { await manager.stop(); client.close(); } };
}

/**
 * Namespaces and controllers a test file creates, so that each is cleaned up: controllers after every test
 * (`stopAll` in afterEach), namespaces after the file (`deleteNamespaces` in afterAll).
 */
export class Scenarios {
  private readonly namespaces: string[] = [];
  private readonly controllers: TestController[] = [];

  /** A fresh namespace, deleted by `deleteNamespaces`. */
  public async namespace(prefix: string): Promise<string> {
    const ns = await newNamespace(prefix);
    this.namespaces.push(ns);
    return ns;
  }

  /** A controller on `namespace`, stopped by `stop` or `stopAll`. */
  public async run(namespace: string, opts: Parameters<typeof startController>[1] = {}): Promise<TestController> {
    const c = await startController(namespace, opts);
    this.controllers.push(c);
    return c;
  }

  public async stop(c: TestController): Promise<void> {
    this.controllers.splice(this.controllers.indexOf(c), 1);
    await c.stop();
  }

  public async stopAll(): Promise<void> {
    await Promise.all(this.controllers.splice(0).map((c) => c.stop()));
  }

  public async deleteNamespaces(): Promise<void> {
    await Promise.all(this.namespaces.splice(0).map(deleteNamespace));
  }
}
