/**
 * Clients and their keys (DESIGN §9). Each ModelAccess names a Secret whose data maps clientId to apiKey;
 * clients send `Authorization: Bearer <apiKey>`. Keys are indexed by their SHA-256 and confirmed with a
 * constant-time comparison; a key that two clients share is refused for both. No key ever leaves this
 * module: a client is known by `{namespace}/{modelAccess}/{clientId}`.
 *
 * The index is pure: the router builds it from its informer caches whenever a ModelAccess or one of their
 * Secrets changes.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS_CLASS, DataClass } from './data-class.js';
import { PolicyError, policyError } from './errors.js';

export interface Limits {
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

/** One ModelAccess with the keys of its Secret (already base64-decoded). */
export interface AccessEntry {
  readonly namespace: string;
  readonly name: string;
  readonly dataClass: DataClass;
  /** Models the clients may ask for; undefined = every model. */
  readonly models?: readonly string[];
  readonly limits?: Limits;
  /** clientId → apiKey. */
  readonly keys: Readonly<Record<string, string>>;
}

/** Who is asking, never with their key. */
export interface Client {
  /** `{namespace}/{modelAccess}/{clientId}`, or `anonymous`. */
  readonly id: string;
  /** `{namespace}/{modelAccess}`: the scope of its cache entries and the owner of its limits. */
  readonly access: string;
  readonly dataClass: DataClass;
  readonly models?: readonly string[];
  readonly limits?: Limits;
}

export const ANONYMOUS: Client = { id: 'anonymous', access: 'anonymous', dataClass: ANONYMOUS_CLASS };

interface KeyEntry {
  readonly key: Buffer;
  readonly client: Client;
}

const digest = (key: Buffer): string => hash('sha256', key, 'hex');

/** Warnings about the keys, for the router's log; they name clients, never keys. */
export interface IndexProblem {
  readonly message: string;
  readonly clients: readonly string[];
}

export class ModelAccessIndex {
  private readonly byDigest = new Map<string, KeyEntry>();
  public readonly problems: IndexProblem[] = [];
  /** No ModelAccess exists: requests are anonymous with class internal. */
  public readonly anonymous: boolean;

  public constructor(entries: readonly AccessEntry[]) {
    this.anonymous = entries.length === 0;
    const shared = new Set<string>();
    for (const e of entries) {
      for (const [clientId, apiKey] of Object.entries(e.keys)) {
        if (apiKey.length === 0) continue;
        const key = Buffer.from(apiKey, 'utf8');
        const d = digest(key);
        const client: Client = {
          id: `${e.namespace}/${e.name}/${clientId}`, access: `${e.namespace}/${e.name}`, dataClass: e.dataClass,
          ...(e.models ? { models: e.models } : {}), ...(e.limits ? { limits: e.limits } : {}),
        };
        const other = this.byDigest.get(d);
        if (other) {
          // One key for two clients would give one client the other's class, models and limits: refuse it.
          shared.add(d);
          this.problems.push({ message: 'an API key belongs to two clients; it is refused', clients: [other.client.id, client.id] });
          continue;
        }
        this.byDigest.set(d, { key, client });
      }
    }
    for (const d of shared) this.byDigest.delete(d);
  }

  /** The client a key belongs to, or undefined. */
  public lookup(apiKey: string): Client | undefined {
    const presented = Buffer.from(apiKey, 'utf8');
    const entry = this.byDigest.get(digest(presented));
    if (!entry || entry.key.length !== presented.length || !timingSafeEqual(entry.key, presented)) return undefined;
    return entry.client;
  }

  /** The client of an `Authorization` header; 401 when it is missing, not Bearer, or unknown. */
  public authenticate(authorization: string | undefined): Client | PolicyError {
    if (this.anonymous) return ANONYMOUS;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!m) return policyError(401, 'missing_api_key', 'authentication_error', 'an API key is required: send Authorization: Bearer <key>', { 'www-authenticate': 'Bearer' });
    const client = this.lookup(m[1]);
    return client ?? policyError(401, 'invalid_api_key', 'authentication_error', 'the API key is not valid', { 'www-authenticate': 'Bearer' });
  }
}

/** 403 when the client's allow-list does not name the model. */
export function authorizeModel(client: Client, model: string): PolicyError | undefined {
  if (!client.models || client.models.includes(model)) return undefined;
  return policyError(403, 'model_not_allowed', 'permission_error', `client ${client.id} may not use model "${model}"`);
}
