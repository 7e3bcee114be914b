/** Helpers for integration tests against the control plane that test/env/global-setup.ts starts. */
import { createHash, randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { ensureTestNode, TEST_NODE_NAME } from './test-node.js';

export { TEST_NODE_NAME } from './test-node.js';
export { TEST_FIELD_MANAGER, describeApiError } from './install-crds.js';

/** Environment variable holding the admin kubeconfig path of the test control plane. */
export const KUBECONFIG_ENV = 'AGENTWAY_TEST_KUBECONFIG';

let cached: KubeConfig | undefined;

/** The admin KubeConfig of the test control plane (a user in system:masters). */
export function kubeConfig(): KubeConfig {
  if (cached) return cached;
  const path = process.env[KUBECONFIG_ENV];
  if (!path) {
    throw new Error(`${KUBECONFIG_ENV} is not set: integration tests need the control plane of test/env/global-setup.ts (run them with jest)`);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  cached = kc;
  return kc;
}

/** Creates a namespace named `<prefix>-<6 random hex digits>` and returns its name. */
export async function newNamespace(prefix: string): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 55).replace(/-+$/, '') || 'test';
  const name = `${base}-${randomBytes(3).toString('hex')}`;
  await kubeConfig().makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { 'agentway.dev/test': 'true' } } },
  });
  return name;
}

/** Deletes a namespace without waiting for it to go away. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubeConfig().makeApiClient(CoreV1Api).deleteNamespace({ name }).catch((err) => {
    if (apiErrorCode(err) !== 404) throw err;
  });
}

export interface EventuallyOptions {
  /** @default 30_000 */
  readonly timeoutMs?: number;
  /** @default 200 */
  readonly intervalMs?: number;
}

/**
 * Calls `fn` until it resolves without throwing, and returns its value. After `timeoutMs` it throws the last error,
 * so a failing `expect` inside `fn` shows up as the test's failure.
 */
export async function eventually<T>(fn: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() + intervalMs > deadline) {
        if (err instanceof Error) err.message = `eventually: still failing after ${timeoutMs} ms: ${err.message}`;
        throw err;
      }
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The HTTP status of a client-node ApiException, or undefined for other errors. */
export function apiErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Does what kubelet and scheduler would do for the pods matching `selector` in `namespace`: binds each unbound pod
 * to the test Node (1.20's EndpointSlice controller looks up the Node of every pod with an IP, and fails the whole
 * Service when there is none), then sets through the status subresource phase Running, `podIP` and `podIPs` (the
 * EndpointSlice controller reads only `podIPs`), ready container statuses and the conditions PodScheduled,
 * Initialized, ContainersReady and Ready = True.
 *
 * Every pod gets `ip` when given, otherwise an address in 10.244.0.0/16 derived from its UID. Throws when no
 * live pod matches, so `eventually(() => markPodsReady(...))` waits for the pods to appear. Returns the pods.
 */
export async function markPodsReady(namespace: string, selector: string | Record<string, string>, ip?: string): Promise<V1Pod[]> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const labelSelector = typeof selector === 'string'
    ? selector
    : Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
  const list = await core.listNamespacedPod({ namespace, labelSelector });
  const pods = list.items.filter((p) => !p.metadata?.deletionTimestamp);
  if (pods.length === 0) throw new Error(`no pods match "${labelSelector}" in namespace ${namespace}`);
  await ensureTestNode(kc);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const marked: V1Pod[] = [];
  for (const pod of pods) {
    const name = pod.metadata!.name!;
    if (!pod.spec?.nodeName) {
      await core.createNamespacedBinding({
        namespace,
        body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: TEST_NODE_NAME } },
      });
    }
    const podIP = ip ?? podIpFor(pod.metadata!.uid!);
    const now = new Date().toISOString();
    const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
    const status = {
      phase: 'Running',
      hostIP: '127.0.0.1',
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: pod.status?.startTime ?? now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(condition),
      containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name, image: c.image ?? '', imageID: '', ready: true, started: true, restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    };
    marked.push(await core.patchNamespacedPodStatus({ name, namespace, body: { status } }, mergePatch));
  }
  return marked;
}

function podIpFor(uid: string): string {
  const h = createHash('sha256').update(uid).digest();
  return `10.244.${h[0]}.${1 + (h[1] % 254)}`;
}
