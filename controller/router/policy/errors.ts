/** Refusals of the policy layer, as values the router turns into OpenAI-shaped error responses. */

export interface PolicyError {
  readonly status: number;
  /** Machine-readable code in the body, e.g. `data_class_not_allowed`. */
  readonly code: string;
  /** OpenAI error type. */
  readonly type: string;
  /** Names what was refused; never a credential, never prompt text. */
  readonly message: string;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers?: Readonly<Record<string, string>>;
}

export function isPolicyError(v: unknown): v is PolicyError {
  return typeof v === 'object' && v !== null && typeof (v as PolicyError).status === 'number' && typeof (v as PolicyError).code === 'string';
}

export const policyError = (status: number, code: string, type: string, message: string, headers?: Record<string, string>): PolicyError =>
  ({ status, code, type, message, ...(headers ? { headers } : {}) });

/** The OpenAI error body of a refusal. */
export function errorBody(e: PolicyError): Buffer {
  return Buffer.from(JSON.stringify({ error: { message: e.message, type: e.type, code: e.code } }));
}
