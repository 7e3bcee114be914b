/**
 * The audit trail (DESIGN §9): one JSON line per request, on stdout among the logs or in a file of its own.
 * A record has no field that could hold a key, and prompt or completion text only when the router runs
 * with `--audit-content`.
 */
import { createWriteStream, WriteStream } from 'node:fs';
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

/** The audit line of one request, newline included; `content` only when content auditing is on. */
export function auditLine(record: AuditRecord, content?: AuditContent): string {
  const line: Record<string, unknown> = { audit: true, ...record };
  if (record.costUsd !== undefined) line.costUsd = Math.round(record.costUsd * 1e9) / 1e9;
  line.latencyMs = Math.round(record.latencyMs * 1000) / 1000;
  if (content) line.content = content;
  return `${JSON.stringify(line)}\n`;
}

/**
 * Where audit lines go: stdout (through pino's asynchronous writer: a write to a piped stdout is otherwise
 * synchronous, on the request path), a file opened for appending, or a stream given by a test.
 */
export class AuditWriter {
  private readonly file?: WriteStream;
  private readonly stdout?: ReturnType<typeof pino.destination>;

  public constructor(path?: string, private readonly out?: NodeJS.WritableStream) {
    if (path) this.file = createWriteStream(path, { flags: 'a', mode: 0o600 });
    else if (!out) this.stdout = pino.destination({ dest: 1, sync: false });
  }

  public write(line: string): void {
    if (this.stdout) this.stdout.write(line);
    else (this.file ?? this.out!).write(line);
  }

  public async close(): Promise<void> {
    if (this.file) await new Promise<void>((resolve) => this.file!.end(resolve));
    if (this.stdout) {
      try { this.stdout.flushSync(); } catch { /* not open yet: nothing was written */ }
    }
  }
}
