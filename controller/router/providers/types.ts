/**
 * What the router hands a provider adapter and what it gets back. Adapters do no I/O: they turn an OpenAI
 * chat-completions body into the request a provider expects (URL, credentials, body) and turn the provider's
 * answer, whole or streamed, back into OpenAI's shapes. The router does the sending.
 */

export type ProviderType = 'openai' | 'openai-compatible' | 'ollama' | 'anthropic' | 'bedrock';

export const PROVIDER_TYPES: readonly ProviderType[] = ['openai', 'openai-compatible', 'ollama', 'anthropic', 'bedrock'];

/** A ModelAPI's `spec.provider`, with the credential already read from its Secret. */
export interface ProviderTarget {
  readonly type: ProviderType;
  /** Base URL as the provider's own SDK takes it (DESIGN §9). */
  readonly url: string;
  /** AWS region (Bedrock). */
  readonly region?: string;
  /** The provider's model id, written into the forwarded request in place of the one asked for. */
  readonly model?: string;
  /**
   * The Secret value: an API key (OpenAI, Anthropic), or for Bedrock either JSON
   * `{"accessKeyId", "secretAccessKey", "sessionToken"?}` or `accessKeyId:secretAccessKey`.
   */
  readonly credential?: string;
}

/** The OpenAI API operation asked for, as the path after `/v1`. */
export type Operation = '/chat/completions' | '/completions' | '/embeddings';

/** A request ready to send upstream. */
export interface UpstreamRequest {
  readonly method: 'POST';
  readonly url: string;
  /** Lower-case header names; includes content-type and content-length. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Token usage in OpenAI's terms. */
export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens read from the provider's prompt cache (part of promptTokens). */
  readonly cachedTokens: number;
}

/** Facts about the request that the translated answer carries. */
export interface ResponseContext {
  /** The model name the client asked for; OpenAI answers echo it. */
  readonly model: string;
  /** Seconds since the epoch, for `created` (adapters read no clock). */
  readonly created: number;
  /** Used as the completion id when the provider gives none. */
  readonly requestId: string;
  /**
   * Whether the client asked for the usage chunk (`stream_options.include_usage`); usage is read either way.
   * @default true
   */
  readonly includeUsage?: boolean;
}

/** Turns a provider's streamed answer into OpenAI `chat.completion.chunk` server-sent events. */
export interface StreamTranslator {
  /** Feeds bytes as they arrive; returns SSE text to write to the client at once (possibly empty). */
  push(chunk: Uint8Array): string;
  /** The stream ended; returns what is left to write, ending with `data: [DONE]`. */
  end(): string;
  /** Usage reported by the provider, once it has been seen. */
  usage(): Usage | undefined;
}

/** An error from the provider, already in OpenAI's shape. */
export interface OpenAIErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly code: string | null };
}

export interface ProviderAdapter {
  readonly type: ProviderType;
  /** Whether the provider takes this operation (Anthropic and Bedrock only chat). */
  supports(op: Operation): boolean;
  /**
   * The upstream request for an OpenAI body (already parsed, routing fields removed). `now` is the signing
   * time (Bedrock).
   */
  prepare(op: Operation, body: Record<string, unknown>, now: Date): Promise<UpstreamRequest>;
  /** The provider's non-streaming success body as an OpenAI body; undefined for pass-through providers. */
  translateResponse(body: Buffer, ctx: ResponseContext): Buffer | undefined;
  /** Translator of the provider's stream; undefined for pass-through providers (OpenAI SSE already). */
  streamTranslator(ctx: ResponseContext): StreamTranslator | undefined;
  /** The provider's error body as an OpenAI error body; undefined for pass-through providers. */
  translateError(status: number, body: Buffer): Buffer | undefined;
}

/** A problem with a request the adapter cannot translate; the router answers it with 400. */
export class TranslationError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'TranslationError';
  }
}
