/**
 * Anthropic Messages behind OpenAI chat completions: `{url}/v1/messages` with `x-api-key` and
 * `anthropic-version`, the body translated both ways, and Anthropic's SSE events turned into OpenAI
 * `chat.completion.chunk` events with the usage in a last chunk of its own.
 */
import { Block, ChatRequest, finishReason, readChatRequest } from './chat.js';
import { SSE_DONE, count, errorTypeFor, jsonHeaders, joinUrl, openAIError, sseData, usageJson } from './http.js';
import { SseReader } from './sse.js';
import {
  Operation, ProviderAdapter, ProviderTarget, ResponseContext, StreamTranslator, TranslationError, UpstreamRequest, Usage,
} from './types.js';

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; OpenAI does not. Used when the client gives none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

function anthropicBlock(b: Block): Record<string, unknown> {
  switch (b.kind) {
    case 'text': return { type: 'text', text: b.text };
    case 'image': return { type: 'image', source: { type: 'base64', media_type: b.mediaType, data: b.data } };
    case 'imageUrl': return { type: 'image', source: { type: 'url', url: b.url } };
    case 'toolUse': return { type: 'tool_use', id: b.id, name: b.name, input: b.input };
    case 'toolResult': return { type: 'tool_result', tool_use_id: b.id, content: b.text };
  }
}

/** The Anthropic Messages body for a chat request. */
export function anthropicRequestBody(chat: ChatRequest, model: string): Record<string, unknown> {
  const choice = chat.toolChoice;
  return {
    model,
    max_tokens: chat.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
    messages: chat.turns.map((t) => ({ role: t.role, content: t.blocks.map(anthropicBlock) })),
    ...(chat.system.length > 0 ? { system: chat.system.join('\n\n') } : {}),
    ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
    ...(chat.topP !== undefined ? { top_p: chat.topP } : {}),
    ...(chat.stop.length > 0 ? { stop_sequences: chat.stop } : {}),
    ...(chat.stream ? { stream: true } : {}),
    ...(chat.tools.length > 0 ? {
      tools: chat.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters })),
    } : {}),
    ...(choice === undefined ? {} : { tool_choice: typeof choice === 'string' ? { type: choice } : { type: 'tool', name: choice.name } }),
    ...(chat.user ? { metadata: { user_id: chat.user } } : {}),
  };
}

/** OpenAI usage from Anthropic's, whose input_tokens leave out the tokens read from or written to its cache. */
export function anthropicUsage(u: Record<string, unknown> | undefined): Usage {
  const cacheRead = count(u?.cache_read_input_tokens);
  return {
    promptTokens: count(u?.input_tokens) + cacheRead + count(u?.cache_creation_input_tokens),
    completionTokens: count(u?.output_tokens),
    cachedTokens: cacheRead,
  };
}

/** The OpenAI chat.completion for an Anthropic Messages answer. */
export function openAIFromAnthropic(msg: Record<string, any>, ctx: ResponseContext): Record<string, unknown> {
  const content: unknown[] = Array.isArray(msg.content) ? msg.content : [];
  const text = content.filter((c: any) => c?.type === 'text').map((c: any) => String(c.text ?? '')).join('');
  const toolCalls = content.filter((c: any) => c?.type === 'tool_use').map((c: any) => ({
    id: String(c.id), type: 'function', function: { name: String(c.name), arguments: JSON.stringify(c.input ?? {}) },
  }));
  return {
    id: typeof msg.id === 'string' ? msg.id : ctx.requestId,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
      finish_reason: finishReason(msg.stop_reason),
    }],
    usage: usageJson(anthropicUsage(msg.usage)),
  };
}

/** Anthropic SSE → OpenAI chunks. */
export class AnthropicStreamTranslator implements StreamTranslator {
  private readonly reader = new SseReader();
  private id: string;
  private raw: Record<string, unknown> | undefined;
  private finish: string | null = null;
  private readonly toolIndex = new Map<number, number>();
  private done = false;
  private failed = false;

  public constructor(private readonly ctx: ResponseContext) {
    this.id = ctx.requestId;
  }

  public usage(): Usage | undefined {
    return this.raw ? anthropicUsage(this.raw) : undefined;
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    return sseData({
      id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.ctx.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
  }

  private event(type: string, data: Record<string, any>): string {
    switch (type) {
      case 'message_start': {
        if (typeof data.message?.id === 'string') this.id = data.message.id;
        this.raw = { ...(data.message?.usage ?? {}) };
        return this.chunk({ role: 'assistant', content: '' });
      }
      case 'content_block_start': {
        const block = data.content_block;
        if (block?.type !== 'tool_use') return '';
        const index = this.toolIndex.size;
        this.toolIndex.set(Number(data.index), index);
        return this.chunk({ tool_calls: [{ index, id: String(block.id), type: 'function', function: { name: String(block.name), arguments: '' } }] });
      }
      case 'content_block_delta': {
        const d = data.delta;
        if (d?.type === 'text_delta') return this.chunk({ content: String(d.text ?? '') });
        if (d?.type === 'input_json_delta') {
          const index = this.toolIndex.get(Number(data.index));
          return index === undefined ? '' : this.chunk({ tool_calls: [{ index, function: { arguments: String(d.partial_json ?? '') } }] });
        }
        return '';
      }
      case 'message_delta': {
        // message_delta carries cumulative counts; keep what message_start said for the rest.
        this.raw = { ...this.raw, ...Object.fromEntries(Object.entries(data.usage ?? {}).filter(([, v]) => v !== null)) };
        this.finish = finishReason(data.delta?.stop_reason);
        return this.chunk({}, this.finish ?? 'stop');
      }
      case 'message_stop': {
        this.done = true;
        if (this.ctx.includeUsage === false) return '';
        return sseData({
          id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.ctx.model,
          choices: [], usage: usageJson(this.usage() ?? anthropicUsage(undefined)),
        });
      }
      case 'error': {
        this.failed = true;
        const e = data.error ?? {};
        return sseData(openAIError(String(e.message ?? 'provider error'), errorTypeFor(e.type === 'overloaded_error' ? 503 : 500), String(e.type ?? 'api_error')));
      }
      default:
        return ''; // ping, content_block_stop and events added later
    }
  }

  private translate(events: { event: string; data: string }[]): string {
    let out = '';
    for (const e of events) {
      if (this.done || this.failed) continue;
      let data: Record<string, any>;
      try {
        data = JSON.parse(e.data);
      } catch {
        continue;
      }
      out += this.event(e.event !== 'message' ? e.event : String(data?.type ?? ''), data ?? {});
    }
    return out;
  }

  public push(chunk: Uint8Array): string {
    return this.translate(this.reader.push(chunk));
  }

  public end(): string {
    const out = this.translate(this.reader.end());
    if (this.done) return `${out}${SSE_DONE}`;
    if (this.failed) return out;
    // Without message_stop the answer is cut short: say so rather than end as if it were whole.
    return `${out}${sseData(openAIError('the provider stream ended before the message was complete', 'api_error', 'upstream_stream_incomplete'))}`;
  }
}

export function anthropicAdapter(target: ProviderTarget): ProviderAdapter {
  return {
    type: 'anthropic',
    supports: (op) => op === '/chat/completions',
    async prepare(op: Operation, body: Record<string, unknown>): Promise<UpstreamRequest> {
      if (op !== '/chat/completions') throw new TranslationError(`${op} is not offered by Anthropic; use /v1/chat/completions`);
      const chat = readChatRequest(body);
      const bytes = Buffer.from(JSON.stringify(anthropicRequestBody(chat, target.model ?? String(body.model))));
      const headers = jsonHeaders(bytes, { 'anthropic-version': ANTHROPIC_VERSION, ...(target.credential ? { 'x-api-key': target.credential } : {}) });
      if (chat.stream) headers.accept = 'text/event-stream';
      return { method: 'POST', url: joinUrl(target.url, '/v1/messages'), headers, body: bytes };
    },
    translateResponse: (body, ctx) => Buffer.from(JSON.stringify(openAIFromAnthropic(JSON.parse(body.toString('utf8')), ctx))),
    streamTranslator: (ctx) => new AnthropicStreamTranslator(ctx),
    translateError(status, body) {
      let e: Record<string, any> = {};
      try { e = JSON.parse(body.toString('utf8'))?.error ?? {}; } catch { /* not JSON: keep the status only */ }
      return Buffer.from(JSON.stringify(openAIError(String(e.message ?? `Anthropic answered ${status}`), errorTypeFor(status), e.type ? String(e.type) : null)));
    },
  };
}
