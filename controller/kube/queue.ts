/**
 * A work queue of keys in the manner of client-go's: a key waiting is queued once however often it is
 * added, a key being processed is never handed to a second worker (an add during processing is replayed
 * when it is done), and failures back off per key, 5 ms doubling to 5 minutes.
 */

export interface QueueMetrics {
  onAdd?(): void;
  onRetry?(): void;
  onDepth?(depth: number): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;

  public constructor(
    private readonly metrics: QueueMetrics = {},
    private readonly baseDelayMs = 5,
    private readonly maxDelayMs = 5 * 60_000,
  ) {}

  public get length(): number {
    return this.queue.length;
  }

  public add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.onAdd?.();
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
      this.metrics.onDepth?.(this.queue.length);
    }
  }

  /** Adds `key` after `delayMs`; an earlier pending delayed add of the same key wins. */
  public addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    if (this.timers.has(key)) return;
    const t = setTimeout(() => { this.timers.delete(key); this.add(key); }, delayMs);
    t.unref();
    this.timers.set(key, t);
  }

  /** Adds `key` after its backoff, which doubles with each consecutive failure up to `maxDelayMs`. */
  public addRateLimited(key: string, maxDelayMs = this.maxDelayMs): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.metrics.onRetry?.();
    this.addAfter(key, this.backoff(n, maxDelayMs));
  }

  /** The delay after `failures` consecutive failures. */
  public backoff(failures: number, maxDelayMs = this.maxDelayMs): number {
    return Math.min(maxDelayMs, this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(failures, 40));
  }

  /** Clears the failure count of `key`: its next failure backs off from the start. */
  public forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  public get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.metrics.onDepth?.(this.queue.length);
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  public done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  public shutdown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
  }
}
