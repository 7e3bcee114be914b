/**
 * Amazon Bedrock Converse behind OpenAI chat completions: `{url}/model/{model}/converse` (or
 * `converse-stream`) signed with SigV4 by @smithy/signature-v4, the body translated both ways, and the
 * binary event stream (application/vnd.amazon.eventstream, decoded by @smithy/eventstream-codec) turned
 * into OpenAI `chat.completion.chunk` events with the usage in a last chunk of its own.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { SignatureV4 } from '@smithy/signature-v4';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { Block, ChatRequest, finishReason, readChatRequest } from './chat.js';
import { SSE_DONE, count, errorTypeFor, jsonHeaders, joinUrl, openAIError, sseData, usageJson } from './http.js';
import {
  Operation, ProviderAdapter, ProviderTarget, ResponseContext, StreamTranslator, TranslationError, UpstreamRequest, Usage,
} from './types.js';

/** The SigV4 service name of the Bedrock runtime. */
export const BEDROCK_SERVICE = 'bedrock';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * AWS credentials from a Secret value: JSON `{"accessKeyId", "secretAccessKey", "sessionToken"?}` or
 * `accessKeyId:secretAccessKey[:sessionToken]`. The message of a failure never contains the value.
 */
export function parseAwsCredentials(value: string | undefined): AwsCredentials {
  const text = (value ?? '').trim();
  if (text.startsWith('{')) {
    let j: Record<string, unknown>;
    try { j = JSON.parse(text); } catch { throw new Error('the Bedrock credential is not valid JSON'); }
    if (typeof j.accessKeyId === 'string' && typeof j.secretAccessKey === 'string') {
      return { accessKeyId: j.accessKeyId, secretAccessKey: j.secretAccessKey, ...(typeof j.sessionToken === 'string' ? { sessionToken: j.sessionToken } : {}) };
    }
    throw new Error('the Bedrock credential JSON needs accessKeyId and secretAccessKey');
  }
  const [accessKeyId, secretAccessKey, ...rest] = text.split(':');
  if (!accessKeyId || !secretAccessKey) throw new Error('the Bedrock credential must be JSON or accessKeyId:secretAccessKey');
  return { accessKeyId, secretAccessKey, ...(rest.length > 0 ? { sessionToken: rest.join(':') } : {}) };
}

/** A signer for the Bedrock runtime of one region; the fake Bedrock verifies with the same construction. */
export function bedrockSigner(region: string, credentials: AwsCredentials): SignatureV4 {
  return new SignatureV4({ service: BEDROCK_SERVICE, region, credentials, sha256: Sha256, uriEscapePath: true, applyChecksum: false });
}

const IMAGE_FORMATS: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/jpg': 'jpeg', 'image/gif': 'gif', 'image/webp': 'webp' };

function converseBlock(b: Block): Record<string, unknown> {
  switch (b.kind) {
    case 'text': return { text: b.text };
    case 'image': {
      const format = IMAGE_FORMATS[b.mediaType];
      if (!format) throw new TranslationError(`image type ${b.mediaType} is not taken by Bedrock (png, jpeg, gif, webp)`);
      return { image: { format, source: { bytes: b.data } } };
    }
    case 'imageUrl': throw new TranslationError('Bedrock takes images as data: URLs only');
    case 'toolUse': return { toolUse: { toolUseId: b.id, name: b.name, input: b.input } };
    case 'toolResult': return { toolResult: { toolUseId: b.id, content: [{ text: b.text }] } };
  }
}

/** The Converse body for a chat request (the model id goes in the URL). */
export function converseRequestBody(chat: ChatRequest): Record<string, unknown> {
  const inference = {
    ...(chat.maxTokens !== undefined ? { maxTokens: chat.maxTokens } : {}),
    ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
    ...(chat.topP !== undefined ? { topP: chat.topP } : {}),
    ...(chat.stop.length > 0 ? { stopSequences: chat.stop } : {}),
  };
  const choice = chat.toolChoice;
  // Converse has no "none": a request that forbids tools is sent without them.
  const tools = choice === 'none' ? [] : chat.tools;
  return {
    messages: chat.turns.map((t) => ({ role: t.role, content: t.blocks.map(converseBlock) })),
    ...(chat.system.length > 0 ? { system: chat.system.map((text) => ({ text })) } : {}),
    ...(Object.keys(inference).length > 0 ? { inferenceConfig: inference } : {}),
    ...(tools.length > 0 ? {
      toolConfig: {
        tools: tools.map((t) => ({ toolSpec: { name: t.name, ...(t.description ? { description: t.description } : {}), inputSchema: { json: t.parameters } } })),
        ...(choice === undefined || choice === 'none' ? {} : { toolChoice: choice === 'auto' ? { auto: {} } : choice === 'any' ? { any: {} } : { tool: { name: choice.name } } }),
      },
    } : {}),
  };
}

/** OpenAI usage from Converse's, whose inputTokens leave out the tokens read from or written to its cache. */
export function converseUsage(u: Record<string, unknown> | undefined): Usage {
  const cacheRead = count(u?.cacheReadInputTokens);
  return {
    promptTokens: count(u?.inputTokens) + cacheRead + count(u?.cacheWriteInputTokens),
    completionTokens: count(u?.outputTokens),
    cachedTokens: cacheRead,
  };
}

/** The OpenAI chat.completion for a Converse answer. */
export function openAIFromConverse(res: Record<string, any>, ctx: ResponseContext): Record<string, unknown> {
  const content: any[] = Array.isArray(res.output?.message?.content) ? res.output.message.content : [];
  const text = content.filter((c) => typeof c?.text === 'string').map((c) => c.text as string).join('');
  const toolCalls = content.filter((c) => c?.toolUse).map((c) => ({
    id: String(c.toolUse.toolUseId), type: 'function', function: { name: String(c.toolUse.name), arguments: JSON.stringify(c.toolUse.input ?? {}) },
  }));
  return {
    id: ctx.requestId,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [{
      index: 0,
      message: { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
      finish_reason: finishReason(res.stopReason),
    }],
    usage: usageJson(converseUsage(res.usage)),
  };
}

/** Bound on one event-stream message (the format allows 16 MiB). */
const MAX_MESSAGE = 16 * 1024 * 1024;
const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** Splits a byte stream into whole event-stream messages by the total length at the start of each. */
export class EventStreamSplitter {
  private pending: Buffer = Buffer.alloc(0);

  public push(chunk: Uint8Array): Uint8Array[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const out: Uint8Array[] = [];
    while (this.pending.length >= 4) {
      const total = this.pending.readUInt32BE(0);
      if (total < 16 || total > MAX_MESSAGE) throw new Error(`event-stream message of ${total} bytes`);
      if (this.pending.length < total) break;
      out.push(this.pending.subarray(0, total));
      this.pending = this.pending.subarray(total);
    }
    return out;
  }

  public get remainder(): number {
    return this.pending.length;
  }
}

const headerValue = (headers: Record<string, { value: unknown }>, name: string): string => {
  const v = headers[name]?.value;
  return typeof v === 'string' ? v : '';
};

/** Converse event stream → OpenAI chunks. */
export class ConverseStreamTranslator implements StreamTranslator {
  private readonly splitter = new EventStreamSplitter();
  private raw: Record<string, unknown> | undefined;
  private readonly toolIndex = new Map<number, number>();
  private stopped = false;
  private failed = false;

  public constructor(private readonly ctx: ResponseContext) {}

  public usage(): Usage | undefined {
    return this.raw ? converseUsage(this.raw) : undefined;
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    return sseData({
      id: this.ctx.requestId, object: 'chat.completion.chunk', created: this.ctx.created, model: this.ctx.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
  }

  private fail(message: string, status: number, code: string): string {
    this.failed = true;
    return sseData(openAIError(message, errorTypeFor(status), code));
  }

  private message(bytes: Uint8Array): string {
    const msg = codec.decode(bytes);
    const headers = msg.headers as Record<string, { value: unknown }>;
    const kind = headerValue(headers, ':message-type');
    let data: Record<string, any> = {};
    try { data = JSON.parse(toUtf8(msg.body) || '{}'); } catch { /* an empty or odd payload carries nothing we use */ }
    if (kind === 'exception') {
      const type = headerValue(headers, ':exception-type') || 'exception';
      return this.fail(String(data.message ?? type), type === 'throttlingException' ? 429 : 500, type);
    }
    if (kind === 'error') {
      return this.fail(headerValue(headers, ':error-message') || 'Bedrock stream error', 500, headerValue(headers, ':error-code') || 'error');
    }
    switch (headerValue(headers, ':event-type')) {
      case 'messageStart':
        return this.chunk({ role: 'assistant', content: '' });
      case 'contentBlockStart': {
        const tool = data.start?.toolUse;
        if (!tool) return '';
        const index = this.toolIndex.size;
        this.toolIndex.set(Number(data.contentBlockIndex), index);
        return this.chunk({ tool_calls: [{ index, id: String(tool.toolUseId), type: 'function', function: { name: String(tool.name), arguments: '' } }] });
      }
      case 'contentBlockDelta': {
        const d = data.delta ?? {};
        if (typeof d.text === 'string') return this.chunk({ content: d.text });
        if (d.toolUse) {
          const index = this.toolIndex.get(Number(data.contentBlockIndex));
          return index === undefined ? '' : this.chunk({ tool_calls: [{ index, function: { arguments: String(d.toolUse.input ?? '') } }] });
        }
        return '';
      }
      case 'messageStop':
        this.stopped = true;
        return this.chunk({}, finishReason(data.stopReason) ?? 'stop');
      case 'metadata':
        this.raw = { ...(data.usage ?? {}) };
        if (this.ctx.includeUsage === false) return '';
        return sseData({
          id: this.ctx.requestId, object: 'chat.completion.chunk', created: this.ctx.created, model: this.ctx.model,
          choices: [], usage: usageJson(converseUsage(this.raw)),
        });
      default:
        return '';
    }
  }

  public push(chunk: Uint8Array): string {
    if (this.failed) return '';
    let out = '';
    try {
      for (const m of this.splitter.push(chunk)) {
        out += this.message(m);
        if (this.failed) break;
      }
    } catch (err) {
      out += this.fail(`unreadable Bedrock event stream: ${(err as Error).message}`, 502, 'upstream_stream_invalid');
    }
    return out;
  }

  public end(): string {
    if (this.failed) return '';
    if (this.stopped && this.splitter.remainder === 0) return SSE_DONE;
    return this.fail('the provider stream ended before the message was complete', 502, 'upstream_stream_incomplete');
  }
}

export function bedrockAdapter(target: ProviderTarget): ProviderAdapter {
  return {
    type: 'bedrock',
    supports: (op) => op === '/chat/completions',
    async prepare(op: Operation, body: Record<string, unknown>, now: Date): Promise<UpstreamRequest> {
      if (op !== '/chat/completions') throw new TranslationError(`${op} is not offered by Bedrock; use /v1/chat/completions`);
      const chat = readChatRequest(body);
      const model = target.model ?? String(body.model);
      const url = new URL(joinUrl(target.url, `/model/${encodeURIComponent(model)}/${chat.stream ? 'converse-stream' : 'converse'}`));
      const bytes = Buffer.from(JSON.stringify(converseRequestBody(chat)));
      const unsigned = jsonHeaders(bytes, { host: url.host });
      if (chat.stream) unsigned.accept = 'application/vnd.amazon.eventstream';
      const signer = bedrockSigner(target.region ?? 'us-east-1', parseAwsCredentials(target.credential));
      const signed = await signer.sign({
        method: 'POST', protocol: url.protocol, hostname: url.hostname, ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname, query: {}, headers: unsigned, body: bytes.toString('utf8'),
      }, { signingDate: now });
      const headers = Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      return { method: 'POST', url: url.toString(), headers, body: bytes };
    },
    translateResponse: (body, ctx) => Buffer.from(JSON.stringify(openAIFromConverse(JSON.parse(body.toString('utf8')), ctx))),
    streamTranslator: (ctx) => new ConverseStreamTranslator(ctx),
    translateError(status, body) {
      let e: Record<string, any> = {};
      try { e = JSON.parse(body.toString('utf8')) ?? {}; } catch { /* not JSON: keep the status only */ }
      return Buffer.from(JSON.stringify(openAIError(String(e.message ?? e.Message ?? `Bedrock answered ${status}`), errorTypeFor(status), null)));
    },
  };
}
