/**
 * The audit trail (DESIGN §9): one JSON line per request, on stdout among the logs or in a file of its own.
 * A record has no field that could hold a key, and prompt or completion text only when the router runs
 * with `--audit-content`.
 */
import { pino } from 'pino';
import { DataClass } from './data-class.js';

export type Decision = 'routed' | 'denied' | 'limited' | 'cached' | 'failed';

export interface AuditRecord {
  /** RFC 3339 time the request arrived. */
  readonly time: string;
  readonly requestId: string;
  /** `{namespace}/{modelAccess}/{clientId}` or `anonymous`; never the key. */
  readonly client: string;
  readonly model: string;
  /** The `owned_by` asked for, if any. */
  readonly engine?: string;
  readonly dataClass?: DataClass;
  readonly decision: Decision;
  /** Why it was denied, limited or failed: the error code. */
  readonly reason?: string;
  /** `{namespace}/{modelapi}` that answered (or last failed). */
  readonly target?: string;
  /** Provider type, or `in-cluster`. */
  readonly provider?: string;
  readonly status: number;
  readonly tokens?: { readonly prompt: number; readonly completion: number; readonly cached: number };
  readonly costUsd?: number;
  readonly latencyMs: number;
  /** Targets tried before the one that answered, in order. */
  readonly fallbacks?: readonly string[];
}

export interface AuditContent {
  readonly request?: unknown;
  readonly response?: string;
}

const str = JSON.stringify;
const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** Values that repeat from line to line (clients, models, targets, decisions), kept as JSON strings. */
const quotedKept = new Map<string, string>();
const QUOTED_KEPT = 4096;
/** Longer values (an engine is free text) are quoted each time rather than kept. */
const QUOTED_KEPT_LENGTH = 256;

function quoted(s: string): string {
  let q = quotedKept.get(s);
  if (q === undefined) {
    q = str(s);
    if (s.length > QUOTED_KEPT_LENGTH) return q;
    if (quotedKept.size >= QUOTED_KEPT) quotedKept.clear();
    quotedKept.set(s, q);
  }
  return q;
}

/**
 * The audit line of one request, newline included; `content` only when content auditing is on. Written out
 * field by field rather than through an object copy and JSON.stringify: one line per request is on every
 * request's path, and strings are still escaped by JSON.stringify.
 */
export function auditLine(r: AuditRecord, content?: AuditContent): string {
  let line = `{"audit":true,"time":${str(r.time)},"requestId":${str(r.requestId)},"client":${quoted(r.client)},"model":${quoted(r.model)}`;
  if (r.engine !== undefined) line += `,"engine":${quoted(r.engine)}`;
  if (r.dataClass !== undefined) line += `,"dataClass":${quoted(r.dataClass)}`;
  line += `,"decision":${quoted(r.decision)}`;
  if (r.reason !== undefined) line += `,"reason":${quoted(r.reason)}`;
  if (r.target !== undefined) line += `,"target":${quoted(r.target)}`;
  if (r.provider !== undefined) line += `,"provider":${quoted(r.provider)}`;
  line += `,"status":${num(r.status)}`;
  if (r.tokens !== undefined) line += `,"tokens":{"prompt":${num(r.tokens.prompt)},"completion":${num(r.tokens.completion)},"cached":${num(r.tokens.cached)}}`;
  if (r.costUsd !== undefined) line += `,"costUsd":${num(Math.round(r.costUsd * 1e9) / 1e9)}`;
  if (r.fallbacks !== undefined) line += `,"fallbacks":${str(r.fallbacks)}`;
  line += `,"latencyMs":${num(Math.round(r.latencyMs * 1000) / 1000)}`;
  if (content) line += `,"content":${str(content)}`;
  return `${line}}\n`;
}

/** Lines are held until this many bytes are waiting, or until the next periodic flush. */
const BATCH_BYTES = 8 * 1024;
/** Milliseconds a line waits at most before it is written. */
export const AUDIT_FLUSH_MS = 50;

/** sonic-boom in buffer mode, which takes Buffers where its types say strings. */
type BufferSink = Omit<ReturnType<typeof pino.destination>, 'write'> & { write(chunk: Buffer): boolean };

/**
 * Where audit lines go: stdout or a file opened for appending, both through pino's asynchronous writer
 * (sonic-boom) in batches — one write(2) per 8 KiB or per 50 ms instead of one per request, none of them on
 * the request path — or a stream given by a test, written at once. `close()` writes what is still held.
 */
export class AuditWriter {
  private readonly sink?: BufferSink;
  private readonly ownFile: boolean;
  private readonly flusher?: NodeJS.Timeout;
  /** Lines were written since the last flush. */
  private held = false;
  /** The file is open: until then a flush does nothing, so the lines stay held. */
  private open = false;

  public constructor(path?: string, private readonly out?: NodeJS.WritableStream) {
    this.ownFile = path !== undefined;
    if (path || !out) {
      // Buffers, not strings: sonic-boom appends a string line to the batch's string and measures its byte
      // length, which copies the whole batch on every line (about 4 KB a line at this batch size).
      this.sink = pino.destination({ dest: path ?? 1, sync: false, append: true, mode: 0o600, minLength: BATCH_BYTES, contentMode: 'buffer' }) as unknown as BufferSink;
      this.sink.once('ready', () => { this.open = true; });
      // Our own timer rather than sonic-boom's periodicFlush, which writes (nothing) even when no line waits.
      this.flusher = setInterval(() => {
        if (!this.held || !this.open) return;
        this.held = false;
        this.sink!.flush();
      }, AUDIT_FLUSH_MS);
      this.flusher.unref();
    }
  }

  public write(line: string): void {
    if (!this.sink) { this.out!.write(line); return; }
    this.sink.write(Buffer.from(line));
    this.held = true;
  }

  public async close(): Promise<void> {
    if (this.flusher) clearInterval(this.flusher);
    if (!this.sink) return;
    try {
      this.sink.flushSync();
    } catch { /* not open yet: nothing was written */ }
    if (this.ownFile) await new Promise<void>((resolve) => { this.sink!.once('close', () => resolve()); this.sink!.end(); });
  }
}
