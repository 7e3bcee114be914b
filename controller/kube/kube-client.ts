/**
 * A small REST client for the Kubernetes API: authentication and TLS come from client-node's KubeConfig;
 * requests and watches are plain HTTPS with JSON bodies, so no object passes through a typed serializer
 * that would drop fields it does not know.
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/** The request an ApiError answers: what a log line needs to find the cause. */
export interface RequestLine {
  readonly method: string;
  readonly path: string;
}

/**
 * An error answered by the API server (or a transport failure, status 0). `message` is the server's own
 * message, fit for a status condition; `detail` adds the request and the status line, for logs.
 */
export class ApiError extends Error {
  public constructor(
    public readonly status: number,
    public readonly reason: string,
    message: string,
    public readonly request?: RequestLine,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Whether waiting and trying again can help: conflicts, throttling, server errors, transport failures. */
  public get retriable(): boolean {
    return this.status === 0 || this.status === 409 || this.status === 429 || this.status >= 500;
  }

  /** `PATCH /apis/...: 422 Invalid: <message>`: the request and the server's whole answer. */
  public get detail(): string {
    const req = this.request ? `${this.request.method} ${this.request.path}: ` : '';
    return `${req}${this.status || 'no answer'} ${this.reason}: ${this.message}`;
  }
}

/** An error as a log line should show it: an API error with its request and answer, else its message. */
export function errorDetail(err: unknown): string {
  if (err instanceof ApiError) return err.detail;
  return err instanceof Error ? err.message : String(err);
}

/** An ApiError from a Status object, as the API server answers failures and reports watch errors. */
function fromStatus(status: number, text: string, request: RequestLine, fallbackReason: string): ApiError {
  let parsed: any;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
  const message = typeof parsed?.message === 'string' ? parsed.message : (text.trim().slice(0, 500) || `HTTP ${status}`);
  return new ApiError(status, typeof parsed?.reason === 'string' && parsed.reason ? parsed.reason : fallbackReason, message, request);
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly contentType?: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly signal?: AbortSignal;
  /** Time allowed for the whole exchange. @default 30 s */
  readonly timeoutMs?: number;
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
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body), 'utf8');
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['Content-Type'] = o.contentType ?? 'application/json';
      // Without it node:http sends a DELETE or GET body with neither Content-Length nor chunked encoding:
      // the server reads an empty request and takes the body for the next request on the socket.
      headers['Content-Length'] = String(body.length);
    }
    const opts = await this.options(method, path + queryString(o.query), headers);
    const mod = this.server.protocol === 'https:' ? https : http;
    const line: RequestLine = { method, path };
    return new Promise<T>((resolve, reject) => {
      const req = mod.request({ ...opts, signal: o.signal, timeout: o.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ApiError(0, 'TransportError', e.message, line)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) { reject(fromStatus(status, text, line, `HTTP${status}`)); return; }
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch {
            reject(new ApiError(status, 'InvalidResponse', `answer is not JSON: ${text.slice(0, 200)}`, line));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (e) => reject(new ApiError(0, 'TransportError', e.message, line)));
      req.end(body);
    });
  }

  /**
   * Streams watch events to `onEvent` until the server closes the stream (resolves) or it fails (rejects).
   * An ERROR event (a 410 Gone among them) rejects with an ApiError carrying the Status's code and reason;
   * an exception thrown by `onEvent` ends the watch and rejects with that exception.
   */
  public async watch(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.counts.watches++;
    const opts = await this.options('GET', path + queryString({ ...query, watch: true, allowWatchBookmarks: true }), {});
    const mod = this.server.protocol === 'https:' ? https : http;
    const line: RequestLine = { method: 'WATCH', path };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        if (err === undefined) resolve();
        else reject(err);
      };
      const req = mod.request({ ...opts, signal }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => settle(fromStatus(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), line, 'WatchFailed')));
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while (!settled && (nl = buffered.indexOf('\n')) >= 0) {
            const text = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!text) continue;
            try {
              const e = JSON.parse(text) as WatchEvent;
              if (e.type === 'ERROR') {
                const st = e.object ?? {};
                throw new ApiError(Number(st.code) || 0, st.reason || 'WatchError', st.message || 'watch error', line);
              }
              onEvent(e);
            } catch (err) {
              settle(err);
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => settle());
        res.on('error', (e) => settle(new ApiError(0, 'TransportError', e.message, line)));
      });
      req.on('error', (e) => settle(signal.aborted ? undefined : new ApiError(0, 'TransportError', e.message, line)));
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
