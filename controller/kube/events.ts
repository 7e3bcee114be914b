/** Kubernetes Events on our CRs, for `kubectl describe`. */
import { Logger } from 'pino';
import { KubeObject } from '../../manifests/api.js';
import { KubeClient } from './kube-client.js';

export interface EventRecorder {
  warn(obj: KubeObject, reason: string, message: string): Promise<void>;
}

export class ApiEventRecorder implements EventRecorder {
  public constructor(
    private readonly client: KubeClient,
    private readonly identity: string,
    private readonly clock: () => Date,
    private readonly log: Logger,
  ) {}

  public async warn(obj: KubeObject, reason: string, message: string): Promise<void> {
    const now = this.clock().toISOString();
    const ns = obj.metadata.namespace ?? 'default';
    try {
      await this.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, {
        body: {
          apiVersion: 'v1', kind: 'Event',
          metadata: { generateName: `${obj.metadata.name}.`, namespace: ns },
          involvedObject: {
            apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: ns,
            uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion,
          },
          type: 'Warning', reason, message: message.slice(0, 1024), count: 1,
          firstTimestamp: now, lastTimestamp: now,
          source: { component: 'agentway' }, reportingComponent: 'agentway', reportingInstance: this.identity,
        },
      });
    } catch (err) {
      // An Event is a courtesy: failing to record one must not fail the reconcile.
      this.log.warn({ err: (err as Error).message, reason }, 'could not record event');
    }
  }
}
