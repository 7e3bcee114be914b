/**
 * What the router's policy reads from the cluster: ModelAccess objects, their key Secrets and the
 * credential Secrets of provider ModelAPIs. Each Secret is watched by name (a field selector), which is
 * all the Roles rendered with a ModelAccess or a provider ModelAPI allow. Values stay in this module and
 * the ones it hands out go to the key index and the provider adapters only — never to a log line.
 */
import { Logger } from 'pino';
import { KubeObject, ModelAccess } from '../../manifests/api.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { MODEL_ACCESS_TYPE, objectKey, resourceType } from '../kube/resources.js';
import { isDataClass } from './policy/data-class.js';
import { AccessEntry, ModelAccessIndex } from './policy/keys.js';

/** Secrets watched one by one, by name. */
export class SecretStore {
  private readonly informers = new Map<string, Informer>();
  private wanted = new Set<string>();

  public constructor(private readonly client: KubeClient, private readonly log: Logger, private readonly onChange: () => void) {}

  /** Watches exactly these `namespace/name` Secrets from now on. */
  public want(keys: Iterable<string>): void {
    this.wanted = new Set(keys);
    for (const key of this.wanted) {
      if (this.informers.has(key)) continue;
      const [namespace, name] = key.split('/');
      const informer = new Informer(this.client, { type: resourceType('v1', 'Secret'), namespace, fieldSelector: `metadata.name=${name}`, log: this.log });
      informer.onChange(this.onChange);
      informer.start();
      this.informers.set(key, informer);
    }
    for (const [key, informer] of this.informers) {
      if (!this.wanted.has(key)) { void informer.stop(); this.informers.delete(key); }
    }
  }

  /** The decoded data of a Secret, or undefined while it is missing. */
  public data(namespace: string, name: string): Record<string, string> | undefined {
    const key = objectKey(namespace, name);
    const secret: KubeObject | undefined = this.informers.get(key)?.get(key);
    if (!secret) return undefined;
    return Object.fromEntries(Object.entries<string>(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  }

  public async synced(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.synced));
  }

  public async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.informers.clear();
  }
}

export interface PolicySourcesOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly namespace?: string;
  /** The provider credential Secrets the catalog's ModelAPIs name, as `namespace/name`. */
  readonly credentialSecrets: () => Iterable<string>;
}

/** ModelAccess objects and the Secrets behind them, as a key index rebuilt on change. */
export class PolicySources {
  public readonly accesses: Informer;
  public readonly secrets: SecretStore;
  private index?: ModelAccessIndex;
  private dirty = true;

  public constructor(private readonly opts: PolicySourcesOptions) {
    this.secrets = new SecretStore(opts.client, opts.log, () => { this.dirty = true; });
    this.accesses = new Informer(opts.client, { type: MODEL_ACCESS_TYPE, namespace: opts.namespace, log: opts.log });
    this.accesses.onChange(() => { this.dirty = true; this.watchSecrets(); });
  }

  /** Watches the key Secrets of every ModelAccess and the credential Secrets of every provider. */
  public watchSecrets(): void {
    const keys = this.accesses.list().map((a) => objectKey(a.metadata.namespace ?? 'default', String(a.spec?.apiKeys?.secretRef?.name ?? '')));
    this.secrets.want([...keys.filter((k) => !k.endsWith('/')), ...this.opts.credentialSecrets()]);
  }

  public async start(): Promise<void> {
    this.accesses.start();
    await this.accesses.synced;
    this.watchSecrets();
    await this.secrets.synced();
  }

  /** The current key index. */
  public keyIndex(): ModelAccessIndex {
    if (this.dirty || !this.index) {
      this.dirty = false;
      const entries: AccessEntry[] = this.accesses.list().map((obj) => {
        const a = obj as ModelAccess;
        const namespace = a.metadata.namespace ?? 'default';
        return {
          namespace, name: a.metadata.name,
          // Unknown to this router (a newer class?): the strictest reading keeps it closed.
          dataClass: isDataClass(a.spec?.dataClass) ? a.spec.dataClass : 'restricted',
          ...(Array.isArray(a.spec?.models) ? { models: a.spec.models } : {}),
          ...(a.spec?.limits ? { limits: a.spec.limits } : {}),
          keys: this.secrets.data(namespace, a.spec?.apiKeys?.secretRef?.name ?? '') ?? {},
        };
      });
      this.index = new ModelAccessIndex(entries);
      for (const p of this.index.problems) this.opts.log.warn({ clients: p.clients }, p.message);
    }
    return this.index;
  }

  public async stop(): Promise<void> {
    await Promise.all([this.accesses.stop(), this.secrets.stop()]);
  }
}
