/**
 * Activity of instances and the idle reaper: every hit is remembered in memory, `status.lastActivityTime`
 * is written at most once per flush interval per instance, and an instance idle longer than its pool's
 * idleTimeout is deleted (the garbage collector takes its children).
 */
import { Logger } from 'pino';
import { API_VERSION } from '../../manifests/api.js';
import { durationMs } from '../../manifests/render.js';
import { rfc3339 } from '../common/time.js';
import { deleteIfUnchanged } from '../kube/delete.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { objectKey, ourType } from '../kube/resources.js';
import { STATUS_MANAGERS, applyStatus } from '../kube/status-apply.js';
import { RouteMetrics } from './metrics.js';

export interface ActivityOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly pools: Informer;
  readonly instances: Informer;
  readonly metrics: RouteMetrics;
  readonly now: () => number;
  /** An instance's lastActivityTime is written at most this often. @default 30 s */
  readonly flushMs?: number;
  /** How often idle instances are looked for. @default 10 s */
  readonly reapIntervalMs?: number;
}

export class Activity {
  private readonly lastSeen = new Map<string, number>();
  private readonly lastFlushed = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];

  public constructor(private readonly opts: ActivityOptions) {}

  /** Records a hit on the instance `namespace/name`. */
  public record(key: string): void {
    this.lastSeen.set(key, this.opts.now());
  }

  public start(): void {
    const flushEvery = Math.min(1000, this.opts.flushMs ?? 30_000);
    this.timers.push(setInterval(() => void this.flush(), flushEvery));
    this.timers.push(setInterval(() => void this.reapIdle(), this.opts.reapIntervalMs ?? 10_000));
    for (const t of this.timers) t.unref();
  }

  public stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  private forget(key: string): void {
    this.lastSeen.delete(key);
    this.lastFlushed.delete(key);
  }

  /** Writes lastActivityTime of instances seen since their last write, at most once per flush interval. */
  private async flush(): Promise<void> {
    const every = this.opts.flushMs ?? 30_000;
    const now = this.opts.now();
    for (const [key, seen] of this.lastSeen) {
      const flushed = this.lastFlushed.get(key) ?? 0;
      if (seen <= flushed || now - flushed < every) continue;
      const inst = this.opts.instances.get(key);
      if (!inst) { this.forget(key); continue; }
      this.lastFlushed.set(key, now);
      this.opts.metrics.activityWrites.inc();
      try {
        await applyStatus(this.opts.client, { apiVersion: API_VERSION, kind: 'ClientInstance', metadata: inst.metadata },
          { lastActivityTime: rfc3339(new Date(seen)) }, STATUS_MANAGERS.routeServer);
      } catch (err) {
        this.opts.log.warn({ instance: key, err: (err as Error).message }, 'could not record activity');
      }
    }
  }

  /** Deletes instances idle longer than their pool's idleTimeout. */
  private async reapIdle(): Promise<void> {
    const now = this.opts.now();
    for (const inst of this.opts.instances.list()) {
      const key = objectKey(inst.metadata.namespace, inst.metadata.name);
      const pool = this.opts.pools.get(objectKey(inst.metadata.namespace, inst.spec?.pool));
      if (!pool || inst.metadata.deletionTimestamp) continue;
      const idleMs = durationMs(pool.spec?.idleTimeout ?? '30m');
      const last = Math.max(
        this.lastSeen.get(key) ?? 0,
        Date.parse(inst.status?.lastActivityTime ?? '') || 0,
        Date.parse(inst.metadata.creationTimestamp ?? '') || 0,
      );
      if (idleMs <= 0 || now - last <= idleMs) continue;
      try {
        if (!await deleteIfUnchanged(this.opts.client, ourType('ClientInstance'), inst)) continue;
        this.forget(key);
        this.opts.log.info({ instance: key, idleSeconds: Math.round((now - last) / 1000) }, 'deleted idle instance');
      } catch (err) {
        this.opts.log.warn({ instance: key, err: (err as Error).message }, 'could not delete idle instance');
      }
    }
  }
}
