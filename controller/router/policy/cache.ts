/**
 * The response cache (DESIGN §9): exact match, non-streaming answers only, when `temperature` is 0 or the
 * client sends `x-agentway-cache: use`. The key hashes the ModelAccess, the request's data class, the model,
 * the engine and the digest of the canonical body, so no entry is ever shared across ModelAccess objects,
 * and a request never gets an answer produced under a lower class than its own. In memory a bounded LRU
 * (lru-cache, by bytes), or Redis shared by replicas.
 */
import { hash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { DataClass } from './data-class.js';

export const CACHE_HEADER = 'x-agentway-cache';
export const DEFAULT_CACHE_TTL_MS = 5 * 60 * 1000;

/** An answer as it is replayed: the same status, content type and bytes. */
export interface CachedResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
  /** `{namespace}/{modelapi}` that produced it. */
  readonly backend: string;
}

export interface ResponseCache {
  get(key: string): Promise<CachedResponse | undefined>;
  set(key: string, value: CachedResponse, ttlMs: number): Promise<void>;
}

/** JSON with object keys sorted at every level, so equal bodies give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 of the canonical JSON of a body: equal bodies, whatever their key order, give equal digests. */
export function bodyDigest(body: Record<string, unknown>): string {
  return hash('sha256', canonicalJson(body), 'hex');
}

export interface CacheKeyParts {
  /** `{namespace}/{modelAccess}` of the client (`anonymous` when none exists). */
  readonly access: string;
  readonly dataClass: DataClass;
  readonly model: string;
  /** The `owned_by` asked for, or empty. */
  readonly engine: string;
  /** `bodyDigest` of the body after routing-only fields are removed. */
  readonly bodyDigest: string;
}

export function cacheKey(p: CacheKeyParts): string {
  return hash('sha256', JSON.stringify([p.access, p.dataClass, p.model, p.engine.toLowerCase(), p.bodyDigest]), 'hex');
}

/** Whether a request may be answered from (and stored in) the cache. */
export function cacheable(body: Record<string, unknown>, header: string | readonly string[] | undefined): boolean {
  if (body.stream === true) return false;
  const h = Array.isArray(header) ? header.join(',') : header;
  if (typeof h === 'string' && h.split(',').some((v) => v.trim().toLowerCase() === 'use')) return true;
  return body.temperature === 0;
}

export interface MemoryCacheOptions {
  /** Total bytes of the bodies held. @default 64 MiB */
  readonly maxBytes?: number;
  /** Largest single body stored. @default 1 MiB */
  readonly maxEntryBytes?: number;
}

export class MemoryCache implements ResponseCache {
  private readonly lru: LRUCache<string, CachedResponse>;
  private readonly maxEntryBytes: number;

  public constructor(opts: MemoryCacheOptions = {}) {
    this.maxEntryBytes = opts.maxEntryBytes ?? 1024 * 1024;
    this.lru = new LRUCache<string, CachedResponse>({
      maxSize: opts.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (v) => v.body.length + v.contentType.length + v.backend.length + 64,
      ttlAutopurge: false,
    });
  }

  public async get(key: string): Promise<CachedResponse | undefined> {
    return this.lru.get(key);
  }

  public async set(key: string, value: CachedResponse, ttlMs: number): Promise<void> {
    if (value.body.length > this.maxEntryBytes) return;
    this.lru.set(key, value, { ttl: ttlMs });
  }

  public get size(): number {
    return this.lru.size;
  }
}

/**
 * Entries in Redis under `{prefix}:cache:{key}` with a TTL: a 4-byte header length, a JSON header, then the
 * body bytes, so replicas replay exactly the same bytes. A Redis failure is a miss, never an error.
 */
export class RedisCache implements ResponseCache {
  public constructor(private readonly redis: Redis, private readonly prefix = 'agentway', private readonly maxEntryBytes = 1024 * 1024) {}

  private key(k: string): string {
    return `${this.prefix}:cache:${k}`;
  }

  public async get(key: string): Promise<CachedResponse | undefined> {
    let raw: Buffer | null;
    try {
      raw = await this.redis.getBuffer(this.key(key));
    } catch {
      return undefined;
    }
    if (!raw || raw.length < 4) return undefined;
    const headerLength = raw.readUInt32BE(0);
    if (4 + headerLength > raw.length) return undefined;
    try {
      const h = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8'));
      if (typeof h.status !== 'number' || typeof h.contentType !== 'string' || typeof h.backend !== 'string') return undefined;
      return { status: h.status, contentType: h.contentType, backend: h.backend, body: raw.subarray(4 + headerLength) };
    } catch {
      return undefined;
    }
  }

  public async set(key: string, value: CachedResponse, ttlMs: number): Promise<void> {
    if (value.body.length > this.maxEntryBytes) return;
    const header = Buffer.from(JSON.stringify({ status: value.status, contentType: value.contentType, backend: value.backend }));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(header.length);
    try {
      await this.redis.set(this.key(key), Buffer.concat([length, header, value.body]), 'PX', Math.max(1, Math.round(ttlMs)));
    } catch {
      // A cache that cannot store is a cache that misses.
    }
  }
}
