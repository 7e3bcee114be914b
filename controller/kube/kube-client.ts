/**
 * A small REST client for the Kubernetes API: authentication and TLS come from client-node's KubeConfig;
 * requests and watches are plain HTTPS with JSON bodies, so no object passes through a typed serializer
 * that would drop fields it does not know.
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** An error answered by the API server (or a transport failure, status 0). */
export class ApiError extends Error {
  public constructor(
    public readonly status: number,
    public readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Whether waiting and trying again can help: conflicts, throttling, server errors, transport failures. */
  public get retriable(): boolean {
    return this.status === 0 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: any;
}

/** Requests this client sent, by verb: what benchmarks and tests count. */
export interface RequestCounts {
  reads: number;
  writes: number;
  watches: number;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  public readonly counts: RequestCounts = { reads: 0, writes: 0, watches: 0 };
  private readonly server: URL;
  private readonly agent: http.Agent;

  public constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    const Agent = this.server.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  /** kubeconfig as kubectl finds it ($KUBECONFIG, ~/.kube/config), else the in-cluster ServiceAccount. */
  public static fromDefault(path?: string): KubeClient {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  public get kubeConfig(): KubeConfig {
    return this.kc;
  }

  private async options(method: string, path: string, headers: Record<string, string>): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
      headers: { Accept: 'application/json', ...headers },
    };
    await this.kc.applyToHTTPSOptions(opts);
    // TLS material is per cluster, so one keep-alive agent serves every request.
    opts.agent = this.agent;
    if (this.server.protocol === 'https:') {
      (this.agent as https.Agent).options.ca = opts.ca;
      (this.agent as https.Agent).options.cert = opts.cert;
      (this.agent as https.Agent).options.key = opts.key;
      (this.agent as https.Agent).options.rejectUnauthorized = opts.rejectUnauthorized;
    }
    return opts;
  }

  /** One request; a non-2xx answer becomes an ApiError carrying the server's Status reason and message. */
  public async request<T = any>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    if (WRITE_METHODS.has(method)) this.counts.writes++;
    else this.counts.reads++;
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = o.contentType ?? 'application/json';
    const opts = await this.options(method, path + queryString(o.query), headers);
    const mod = this.server.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request({ ...opts, signal: o.signal, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ApiError(0, 'TransportError', e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(new ApiError(status, parsed?.reason ?? `HTTP${status}`, parsed?.message ?? (text.slice(0, 500) || `HTTP ${status}`)));
        });
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (e) => reject(new ApiError(0, 'TransportError', e.message)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /**
   * Streams watch events to `onEvent` until the server closes the stream (resolves) or it fails (rejects).
   * A 410 Gone arrives as an ERROR event whose object is a Status with code 410.
   */
  public async watch(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.counts.watches++;
    const opts = await this.options('GET', path + queryString({ ...query, watch: true, allowWatchBookmarks: true }), {});
    const mod = this.server.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = mod.request({ ...opts, signal }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: any;
            try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { parsed = undefined; }
            reject(new ApiError(res.statusCode ?? 0, parsed?.reason ?? 'WatchFailed', parsed?.message ?? `watch ${path}: HTTP ${res.statusCode}`));
          });
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent);
            } catch (err) {
              req.destroy(err as Error);
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => reject(new ApiError(0, 'TransportError', e.message)));
      });
      req.on('error', (e) => (signal.aborted ? resolve() : reject(new ApiError(0, 'TransportError', e.message))));
      // A connection that dies without a FIN or RST would otherwise hang this watch forever: past the
      // server's own timeout plus a margin, silence means the stream is gone.
      const idleMs = (Number(query?.timeoutSeconds) || 300) * 1000 + 60_000;
      req.setTimeout(idleMs, () => req.destroy(new Error(`watch ${path}: no data for ${idleMs / 1000} s`)));
      req.end();
    });
  }

  public close(): void {
    this.agent.destroy();
  }
}
