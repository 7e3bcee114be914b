/** Small helpers every adapter shares: URL joining, JSON bodies and OpenAI-shaped errors and usage. */
import { OpenAIErrorBody, Usage } from './types.js';

/**
 * `base` + `path` with exactly one slash between them. The base keeps its own path (an in-cluster proxy may
 * serve the provider under a prefix); its query and fragment are dropped.
 */
export function joinUrl(base: string, path: string): string {
  const u = new URL(base);
  u.search = '';
  u.hash = '';
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Headers of a JSON request body, Content-Length included (node:http does not add it for us everywhere). */
export function jsonHeaders(body: Buffer, extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(body.length), ...extra };
}

export function openAIError(message: string, type: string, code: string | null): OpenAIErrorBody {
  return { error: { message, type, code } };
}

/** OpenAI's error `type` for an upstream HTTP status. */
export function errorTypeFor(status: number): string {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A token count from a provider's answer: 0 unless it is a finite number ≥ 0. */
export const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/** Usage from an OpenAI body or chunk (`usage: {prompt_tokens, completion_tokens, prompt_tokens_details}`). */
export function openAIUsage(body: unknown): Usage | undefined {
  const u = (body as { usage?: Record<string, any> } | null)?.usage;
  if (!u || typeof u !== 'object') return undefined;
  return {
    promptTokens: count(u.prompt_tokens),
    completionTokens: count(u.completion_tokens),
    cachedTokens: count(u.prompt_tokens_details?.cached_tokens),
  };
}

/** The `usage` member of an OpenAI body. */
export function usageJson(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

/** One server-sent event carrying JSON. */
export const sseData = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;
export const SSE_DONE = 'data: [DONE]\n\n';
