/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the lease
 * every `retryPeriod`; a candidate takes it over once `leaseDuration` has passed without a renewal, or at
 * once when the holder released it. Updates carry the resourceVersion, so two candidates cannot both win.
 */
import { Logger } from 'pino';
import { ApiError, KubeClient, errorDetail } from './kube-client.js';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** @default 15 s */
  readonly leaseDurationMs?: number;
  /** Leadership is given up when renewals fail for this long. @default 10 s */
  readonly renewDeadlineMs?: number;
  /** @default 2 s */
  readonly retryPeriodMs?: number;
  readonly clock?: () => Date;
  /**
   * Called with each failed attempt to read or write the lease (a lost race for it is not one), and with
   * undefined when an attempt succeeds again.
   */
  readonly onError?: (err: Error | undefined) => void;
}

const micro = (d: Date) => d.toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly abort = new AbortController();
  private leading = false;
  private running?: Promise<void>;
  private failing?: Error;

  public constructor(private readonly client: KubeClient, private readonly opts: LeaderElectionOptions, private readonly log: Logger) {}

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  public get isLeader(): boolean {
    return this.leading;
  }

  /** The last failure to read or write the lease, until an attempt succeeds again. */
  public get lastError(): Error | undefined {
    return this.failing;
  }

  /** Each lease request must answer well inside the lease: a renewal that hangs past it is worthless. */
  private get requestTimeoutMs(): number {
    return Math.max(500, Math.floor(Math.min(this.opts.renewDeadlineMs ?? 10_000, this.opts.leaseDurationMs ?? 15_000) / 2));
  }

  private now(): Date {
    return (this.opts.clock ?? (() => new Date()))();
  }

  /** One attempt to acquire or renew; true if we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const durationS = Math.ceil((this.opts.leaseDurationMs ?? 15_000) / 1000);
    const now = this.now();
    let lease: any;
    try {
      lease = await this.client.request('GET', `${this.path}/${this.opts.name}`, { timeoutMs: this.requestTimeoutMs });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      await this.client.request('POST', this.path, {
        timeoutMs: this.requestTimeoutMs,
        body: {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: durationS, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder: string | undefined = spec.holderIdentity || undefined;
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? durationS) * 1000 < now.getTime();
    if (holder && holder !== this.opts.identity && !expired) return false;
    const taking = holder !== this.opts.identity;
    await this.client.request('PUT', `${this.path}/${this.opts.name}`, {
      timeoutMs: this.requestTimeoutMs,
      body: {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: durationS,
          renewTime: micro(now),
          acquireTime: taking ? micro(now) : spec.acquireTime,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (taking ? 1 : 0),
        },
      },
    });
    return true;
  }

  /**
   * Campaigns until elected, calls `onStarted`, keeps renewing, and calls `onStopped` if leadership is lost.
   * Resolves when stopped.
   */
  public run(onStarted: () => void, onStopped: () => void): Promise<void> {
    this.running ??= (async () => {
      const retry = this.opts.retryPeriodMs ?? 2000;
      const deadline = this.opts.renewDeadlineMs ?? 10_000;
      let lastRenew = 0;
      while (!this.abort.signal.aborted) {
        let ok = false;
        try {
          ok = await this.tryAcquireOrRenew();
          this.recordError(undefined);
        } catch (err) {
          // A conflict means someone else updated the lease first: a lost race, not a failure.
          if (err instanceof ApiError && err.status === 409) {
            this.log.debug({ err: err.detail }, 'lease taken meanwhile');
          } else {
            this.recordError(err instanceof Error ? err : new Error(String(err)));
          }
        }
        const now = this.now().getTime();
        if (ok) {
          lastRenew = now;
          if (!this.leading) {
            this.leading = true;
            this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
            onStarted();
          }
        } else if (this.leading && now - lastRenew > deadline) {
          this.leading = false;
          this.log.warn({ identity: this.opts.identity }, 'lost leadership');
          onStopped();
        }
        // The abort listener goes with the timer: one left behind each period would pile up for the process's life.
        await new Promise<void>((r) => {
          const signal = this.abort.signal;
          const done = () => { clearTimeout(t); signal.removeEventListener('abort', done); r(); };
          const t = setTimeout(done, retry);
          signal.addEventListener('abort', done, { once: true });
        });
      }
    })();
    return this.running;
  }

  private recordError(err: Error | undefined): void {
    if (err) {
      this.log.warn({ lease: `${this.opts.namespace}/${this.opts.name}`, err: errorDetail(err) }, 'could not read or update the lease');
    }
    if (err || this.failing) this.opts.onError?.(err);
    this.failing = err;
  }

  /** Stops campaigning and, if leading, releases the lease so another candidate takes over at once. */
  public async release(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.request('GET', `${this.path}/${this.opts.name}`, { timeoutMs: this.requestTimeoutMs });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      await this.client.request('PUT', `${this.path}/${this.opts.name}`, {
        timeoutMs: this.requestTimeoutMs,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(this.now()) } },
      });
    } catch (err) {
      this.log.warn({ err: errorDetail(err) }, 'could not release the lease');
    }
  }
}
