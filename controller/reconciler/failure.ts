/**
 * Every way a reconcile can fail, as a value: what the status says, and whether trying again can help.
 * Invalid specs and refused objects (422, 400) wait for the CR to change; a 403 is reported and retried,
 * since RBAC can be granted later and a kube-apiserver that just restarted answers 403 until it has loaded
 * its RBAC; conflicts, throttling, server errors and transport failures back off per key.
 */
import { ApiError, errorDetail } from '../kube/kube-client.js';

/** A 403 is retried no less often than this. */
export const FORBIDDEN_MAX_DELAY_MS = 60_000;

export type Retry =
  /** Nothing changes until the CR does: not queued again. */
  | { readonly kind: 'none' }
  /** Queued again with the per-key backoff, at most `maxDelayMs` apart when given. */
  | { readonly kind: 'backoff'; readonly maxDelayMs?: number };

export interface Failure {
  /** Condition reason, e.g. `ApplyFailed`. */
  readonly reason: string;
  /** What a person reads on the CR. */
  readonly message: string;
  /** The request and the server's answer, for the log. */
  readonly detail: string;
  readonly retry: Retry;
  /** Whether the status should say so; a transient failure retries quietly. */
  readonly report: boolean;
}

export const NO_RETRY: Retry = { kind: 'none' };

/** The Failure of a step that got `err` while working on `what` (e.g. `Deployment agent-a`). */
export function failureOf(reason: string, what: string, err: unknown): Failure {
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  const detail = `${what}: ${errorDetail(err)}`;
  if (!(err instanceof ApiError)) return { reason, message, detail, retry: { kind: 'backoff' }, report: false };
  if (err.status === 403) return { reason, message, detail, retry: { kind: 'backoff', maxDelayMs: FORBIDDEN_MAX_DELAY_MS }, report: true };
  if (err.retriable) return { reason, message, detail, retry: { kind: 'backoff' }, report: false };
  return { reason, message, detail, retry: NO_RETRY, report: true };
}
