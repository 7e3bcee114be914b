/**
 * API keys of the ClientPools: read from each pool's Secret (data: clientId → apiKey), looked up by the
 * SHA-256 of the presented key and confirmed with a constant-time comparison. Keys are never logged and
 * never leave this module except as that comparison's result.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { Logger } from 'pino';
import { API_VERSION, KubeObject } from '../../manifests/api.js';
import { isDnsLabel } from '../../manifests/names.js';
import { EventRecorder } from '../kube/events.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { objectKey, resourceType } from '../kube/resources.js';

export interface ClientIdentity {
  readonly namespace: string;
  readonly pool: string;
  readonly client: string;
}

interface Entry {
  /** Built once per key: every lookup of the key returns this object. */
  readonly identity: ClientIdentity;
  readonly key: Buffer;
}

const digest = (key: Buffer) => hash('sha256', key, 'hex');

/** Reason of the Event on a pool whose key Secret names a client id that cannot be one. */
export const INVALID_CLIENT_ID = 'InvalidClientId';

export class ApiKeyIndex {
  private readonly secrets = new Map<string, Informer>();
  private byDigest = new Map<string, Entry>();
  private dirty = true;
  private rebuildScheduled = false;
  /** Invalid entries already reported, by pool, client and Secret version: each is reported once. */
  private readonly reported = new Set<string>();

  public constructor(
    private readonly client: KubeClient,
    private readonly pools: Informer,
    private readonly log: Logger,
    private readonly events?: EventRecorder,
  ) {
    pools.onChange(() => { this.markDirty(); this.syncSecretInformers(); });
  }

  /** One informer per referenced Secret (by field selector), so only those Secrets are held in memory. */
  private syncSecretInformers(): void {
    const wanted = new Set(this.pools.list().map((p) => objectKey(p.metadata.namespace, p.spec?.apiKeys?.secretRef?.name ?? '')));
    for (const key of wanted) {
      if (this.secrets.has(key) || key.endsWith('/')) continue;
      const [namespace, name] = key.split('/');
      const informer = new Informer(this.client, {
        type: resourceType('v1', 'Secret'), namespace, fieldSelector: `metadata.name=${name}`, log: this.log,
      });
      informer.onChange(() => this.markDirty());
      informer.start();
      this.secrets.set(key, informer);
    }
    for (const [key, informer] of this.secrets) {
      if (!wanted.has(key)) { void informer.stop(); this.secrets.delete(key); }
    }
  }

  /** The index is rebuilt on the next lookup, or soon after a change at the latest, so that bad entries are reported when read. */
  private markDirty(): void {
    this.dirty = true;
    if (this.rebuildScheduled) return;
    this.rebuildScheduled = true;
    setImmediate(() => {
      this.rebuildScheduled = false;
      if (this.dirty) this.rebuild();
    });
  }

  private rebuild(): void {
    const next = new Map<string, Entry>();
    const ambiguous = new Set<string>();
    for (const pool of this.pools.list()) {
      const ns = pool.metadata.namespace!;
      const secretName = pool.spec?.apiKeys?.secretRef?.name;
      const secret: KubeObject | undefined = this.secrets.get(objectKey(ns, secretName))?.get(objectKey(ns, secretName));
      for (const [client, b64] of Object.entries<string>(secret?.data ?? {})) {
        // A client id names the client's ClientInstances: one that is not a DNS label could never get one.
        if (!isDnsLabel(client) || client.length > 63) {
          this.reportInvalid(pool, secretName!, client, secret!.metadata.resourceVersion);
          continue;
        }
        const key = Buffer.from(b64, 'base64');
        if (key.length === 0) continue;
        const d = digest(key);
        const other = next.get(d);
        if (other && (other.identity.namespace !== ns || other.identity.pool !== pool.metadata.name || other.identity.client !== client)) {
          // One key for two clients would route one client's traffic to the other's pods: refuse it.
          ambiguous.add(d);
          this.log.warn({ clients: [`${other.identity.namespace}/${other.identity.pool}/${other.identity.client}`, `${ns}/${pool.metadata.name}/${client}`] }, 'an API key belongs to two clients; it is refused');
          continue;
        }
        next.set(d, { identity: { namespace: ns, pool: pool.metadata.name, client }, key });
      }
    }
    for (const d of ambiguous) next.delete(d);
    this.byDigest = next;
    this.dirty = false;
  }

  private reportInvalid(pool: KubeObject, secretName: string, client: string, version: string | undefined): void {
    const id = `${pool.metadata.namespace}/${pool.metadata.name}/${client}/${version}`;
    if (this.reported.has(id)) return;
    this.reported.add(id);
    // The id is shown cut short and as JSON: it comes from a Secret anyone with write access may fill.
    const shown = JSON.stringify(client.slice(0, 64));
    const message = `client id ${shown} in Secret ${secretName} is not a DNS label (lower-case letters, digits and "-", at most 63); its key is refused`;
    this.log.warn({ pool: `${pool.metadata.namespace}/${pool.metadata.name}`, secret: secretName }, message);
    void this.events?.warn({ ...pool, apiVersion: API_VERSION, kind: 'ClientPool' }, INVALID_CLIENT_ID, message);
  }

  /** Resolves once every referenced Secret has been listed. */
  public async synced(): Promise<void> {
    this.syncSecretInformers();
    await Promise.all([...this.secrets.values()].map((i) => i.synced));
  }

  /** The client a key belongs to, or undefined. */
  public lookup(apiKey: string): ClientIdentity | undefined {
    if (this.dirty) this.rebuild();
    const presented = Buffer.from(apiKey, 'utf8');
    const entry = this.byDigest.get(digest(presented));
    if (!entry || entry.key.length !== presented.length || !timingSafeEqual(entry.key, presented)) return undefined;
    return entry.identity;
  }

  public async stop(): Promise<void> {
    await Promise.all([...this.secrets.values()].map((i) => i.stop()));
    this.secrets.clear();
  }
}
