/**
 * List + watch into an in-memory cache. Unlike client-node's informer, it never stops on its own: a 410
 * Gone relists at once, any other failure retries with backoff, and after every relist each cached key is
 * reported again so that nothing missed while disconnected stays unreconciled.
 */
import { Logger } from 'pino';
import { KubeObject, ObjectMeta } from '../../manifests/api.js';
import { ApiError, KubeClient, WatchEvent, errorDetail } from './kube-client.js';
import { ResourceType, objectKey, resourcePath } from './resources.js';

/** Called with the key of an object that was added, changed, deleted, or seen again on a relist. */
export type ChangeHandler = (key: string, obj: KubeObject | undefined, old: KubeObject | undefined) => void;

export interface InformerOptions {
  readonly type: ResourceType;
  /** Watch one namespace only. @default all namespaces */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** A label whose values are indexed, for `byLabel`. */
  readonly indexLabel?: string;
  /**
   * Reduces each object to what its readers need before it is cached; it gets the object with its
   * managedFields and must not keep them. @default withoutBookkeeping
   */
  readonly transform?: (obj: KubeObject) => KubeObject;
  readonly log: Logger;
}

/** kubectl's copy of what it last applied: the whole object again, in an annotation. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * `obj` without what only writers keep: managedFields (most of an applied object's size) and kubectl's
 * last-applied copy. Nothing in the controller reads either.
 */
export function withoutBookkeeping(obj: KubeObject): KubeObject {
  const { metadata } = obj;
  const annotations = metadata.annotations as Record<string, string> | undefined;
  const lastApplied = annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (!metadata.managedFields && !lastApplied) return obj;
  // Copied without them rather than deleted from: `delete` turns each object into a hash table of its own.
  const kept: Record<string, unknown> = {};
  for (const k of Object.keys(metadata)) {
    if (k === 'managedFields') continue;
    if (k === 'annotations' && lastApplied) {
      const rest = without(annotations, LAST_APPLIED_ANNOTATION);
      if (Object.keys(rest).length > 0) kept.annotations = rest;
      continue;
    }
    kept[k] = metadata[k];
  }
  (obj as { metadata: ObjectMeta }).metadata = kept as ObjectMeta;
  return obj;
}

function without(o: Record<string, unknown>, drop: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (k !== drop) out[k] = o[k];
  return out;
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const onAbort = () => { clearTimeout(t); resolve(); };
  const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal.addEventListener('abort', onAbort, { once: true });
});

export class Informer {
  private readonly cache = new Map<string, KubeObject>();
  private readonly index = new Map<string, Set<string>>();
  private readonly handlers: ChangeHandler[] = [];
  private readonly abort = new AbortController();
  private resourceVersion?: string;
  private resolveSynced!: () => void;
  /** Resolves once the first list is in the cache. */
  public readonly synced: Promise<void> = new Promise((r) => { this.resolveSynced = r; });
  private running?: Promise<void>;

  public constructor(private readonly client: KubeClient, private readonly opts: InformerOptions) {}

  public get type(): ResourceType {
    return this.opts.type;
  }

  public onChange(handler: ChangeHandler): void {
    this.handlers.push(handler);
  }

  public get(key: string): KubeObject | undefined {
    return this.cache.get(key);
  }

  public list(): KubeObject[] {
    return [...this.cache.values()];
  }

  public get size(): number {
    return this.cache.size;
  }

  /** Cached objects whose `indexLabel` has this value. */
  public byLabel(value: string): KubeObject[] {
    return [...(this.index.get(value) ?? [])].map((k) => this.cache.get(k)!).filter(Boolean);
  }

  public start(): void {
    this.running ??= this.run();
  }

  public async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private indexValue(obj: KubeObject | undefined): string | undefined {
    return this.opts.indexLabel ? obj?.metadata.labels?.[this.opts.indexLabel] : undefined;
  }

  private store(key: string, obj: KubeObject | undefined): void {
    if (obj && this.opts.transform) obj = this.opts.transform(obj);
    else if (obj) withoutBookkeeping(obj);
    const old = this.cache.get(key);
    const oldValue = this.indexValue(old);
    const newValue = this.indexValue(obj);
    if (oldValue !== undefined && oldValue !== newValue) {
      const set = this.index.get(oldValue);
      set?.delete(key);
      if (set?.size === 0) this.index.delete(oldValue);
    }
    if (newValue !== undefined) {
      let set = this.index.get(newValue);
      if (!set) this.index.set(newValue, (set = new Set()));
      set.add(key);
    }
    if (obj) this.cache.set(key, obj);
    else this.cache.delete(key);
    for (const h of this.handlers) {
      try {
        h(key, obj, old);
      } catch (err) {
        this.opts.log.error({ err, key }, 'change handler failed');
      }
    }
  }

  private path(): string {
    return resourcePath(this.opts.type, this.opts.namespace);
  }

  private async relist(): Promise<void> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.client.request<any>('GET', this.path(), {
        query: { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: 500, continue: cont }, signal: this.abort.signal,
      });
      items.push(...page.items);
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont);
    const seen = new Set<string>();
    for (const item of items) {
      item.apiVersion ??= this.opts.type.apiVersion;
      item.kind ??= this.opts.type.kind;
      const key = objectKey(item.metadata.namespace, item.metadata.name);
      seen.add(key);
      this.store(key, item);
    }
    for (const key of [...this.cache.keys()]) if (!seen.has(key)) this.store(key, undefined);
    this.resourceVersion = rv;
    this.resolveSynced();
  }

  /** ERROR events never get here: the client ends the watch with an ApiError holding their status. */
  private onEvent(e: WatchEvent): void {
    const obj = e.object as KubeObject;
    this.resourceVersion = obj.metadata.resourceVersion ?? this.resourceVersion;
    if (e.type === 'BOOKMARK') return;
    obj.apiVersion ??= this.opts.type.apiVersion;
    obj.kind ??= this.opts.type.kind;
    const key = objectKey(obj.metadata.namespace, obj.metadata.name);
    this.store(key, e.type === 'DELETED' ? undefined : obj);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.resourceVersion) await this.relist();
        await this.client.watch(this.path(), {
          resourceVersion: this.resourceVersion, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector,
          timeoutSeconds: 240 + Math.floor(Math.random() * 120),
        }, (e) => this.onEvent(e), signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiError && err.status === 410) {
          this.opts.log.debug({ kind: this.opts.type.kind }, 'watch expired; relisting');
          this.resourceVersion = undefined;
          continue;
        }
        failures++;
        const delay = Math.min(30_000, 100 * 2 ** Math.min(failures, 9));
        this.opts.log.warn({ kind: this.opts.type.kind, err: errorDetail(err), retryInMs: delay }, 'watch failed; retrying');
        // After repeated failures the resourceVersion may be long gone: start again from a list.
        if (failures >= 3) this.resourceVersion = undefined;
        await sleep(delay, signal);
      }
    }
  }
}
