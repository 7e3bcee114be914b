/**
 * OpenAI, OpenAI-compatible servers and Ollama: the body passes through with only the model replaced; the
 * URL is the base (which includes `/v1`) plus the operation; OpenAI and OpenAI-compatible get
 * `Authorization: Bearer`, Ollama no credential.
 */
import { jsonHeaders, joinUrl } from './http.js';
import { Operation, ProviderAdapter, ProviderTarget, UpstreamRequest } from './types.js';

export function passThroughAdapter(target: ProviderTarget): ProviderAdapter {
  return {
    type: target.type,
    supports: () => true,
    async prepare(op: Operation, body: Record<string, unknown>): Promise<UpstreamRequest> {
      const forwarded = target.model ? { ...body, model: target.model } : body;
      const bytes = Buffer.from(JSON.stringify(forwarded));
      const auth: Record<string, string> = target.type !== 'ollama' && target.credential
        ? { authorization: `Bearer ${target.credential}` } : {};
      const headers = jsonHeaders(bytes, auth);
      if (body.stream === true) headers.accept = 'text/event-stream';
      return { method: 'POST', url: joinUrl(target.url, op), headers, body: bytes };
    },
    translateResponse: () => undefined,
    streamTranslator: () => undefined,
    translateError: () => undefined,
  };
}
