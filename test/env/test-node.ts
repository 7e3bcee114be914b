/**
 * The one Node of the test cluster. There is no kubelet: tests bind pods to this Node and mark them Ready
 * (see markPodsReady in kube.ts), and a reaper finishes the graceful deletion of pods bound to it, which is
 * the kubelet's job in a real cluster.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** Name of the Node that test pods are bound to. */
export const TEST_NODE_NAME = 'agentway-test-node';

/** Creates the test Node unless it exists. */
export async function ensureTestNode(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.createNode({
      body: {
        apiVersion: 'v1', kind: 'Node',
        metadata: { name: TEST_NODE_NAME, labels: { 'kubernetes.io/hostname': TEST_NODE_NAME } },
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/** A running reaper; `stop()` ends its polling loop. */
export interface PodReaper {
  stop(): Promise<void>;
}

/**
 * Deletes, with grace period 0, every pod bound to the test Node that is terminating. Without it such pods
 * keep their deletionTimestamp forever, and namespaces holding them never finish terminating.
 */
export function startPodReaper(kc: KubeConfig, intervalMs = 300): PodReaper {
  const core = kc.makeApiClient(CoreV1Api);
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      try {
        const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${TEST_NODE_NAME}` });
        for (const pod of pods.items) {
          if (!pod.metadata?.deletionTimestamp) continue;
          await core.deleteNamespacedPod({
            name: pod.metadata.name!, namespace: pod.metadata.namespace!, gracePeriodSeconds: 0,
          }).catch(() => undefined); // already gone, or retried on the next pass
        }
      } catch {
        // The apiserver is stopping or briefly unavailable; the next pass retries.
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref();
      });
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
