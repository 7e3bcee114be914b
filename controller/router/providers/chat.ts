/**
 * An OpenAI chat-completions body read into the few things Anthropic Messages and Bedrock Converse both need:
 * system text, alternating user/assistant turns made of blocks, sampling settings and tools. Anything the
 * providers cannot take is refused with a TranslationError naming it, never silently dropped, except
 * settings that only tune sampling (seed, penalties, logprobs), which the providers lack.
 */
import { TranslationError } from './types.js';

export type Block =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'image'; readonly mediaType: string; readonly data: string }
  | { readonly kind: 'imageUrl'; readonly url: string }
  | { readonly kind: 'toolUse'; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly kind: 'toolResult'; readonly id: string; readonly text: string };

export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly blocks: Block[];
}

export interface Tool {
  readonly name: string;
  readonly description?: string;
  readonly parameters: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'any' | 'none' | { readonly name: string };

export interface ChatRequest {
  readonly system: readonly string[];
  readonly turns: readonly Turn[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly stop: readonly string[];
  readonly tools: readonly Tool[];
  readonly toolChoice?: ToolChoice;
  readonly stream: boolean;
  readonly user?: string;
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

function textOf(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content.map((p, i) => {
      if (isObject(p) && p.type === 'text' && typeof p.text === 'string') return p.text;
      throw new TranslationError(`${where}[${i}]: only text parts are allowed here`);
    }).join('');
  }
  throw new TranslationError(`${where}: must be a string or an array of parts`);
}

const DATA_URL = /^data:([a-z]+\/[-+.a-z0-9]+);base64,(.*)$/is;

function contentBlocks(content: unknown, where: string): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) throw new TranslationError(`${where}: must be a string or an array of parts`);
  return content.map((p, i): Block => {
    if (isObject(p) && p.type === 'text' && typeof p.text === 'string') return { kind: 'text', text: p.text };
    if (isObject(p) && p.type === 'image_url') {
      const url = typeof p.image_url === 'string' ? p.image_url : p.image_url?.url;
      if (typeof url !== 'string') throw new TranslationError(`${where}[${i}].image_url.url: must be a string`);
      const m = DATA_URL.exec(url);
      return m ? { kind: 'image', mediaType: m[1].toLowerCase(), data: m[2] } : { kind: 'imageUrl', url };
    }
    throw new TranslationError(`${where}[${i}]: unsupported content part ${JSON.stringify(isObject(p) ? p.type : p)}`);
  });
}

function parseArguments(args: unknown, where: string): unknown {
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    throw new TranslationError(`${where}: must be a JSON string`);
  }
}

function addTurn(turns: Turn[], role: Turn['role'], blocks: Block[]): void {
  if (blocks.length === 0) return;
  const last = turns[turns.length - 1];
  // Both providers want user and assistant turns to alternate; consecutive turns of one role are one turn.
  if (last && last.role === role) last.blocks.push(...blocks);
  else turns.push({ role, blocks: [...blocks] });
}

function optionalNumber(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TranslationError(`${field}: must be a number`);
  return v;
}

function parseTools(tools: unknown): Tool[] {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) throw new TranslationError('tools: must be an array');
  return tools.map((t, i) => {
    const f = isObject(t) ? t.function : undefined;
    if (!isObject(t) || t.type !== 'function' || !isObject(f) || typeof f.name !== 'string') {
      throw new TranslationError(`tools[${i}]: must be {"type": "function", "function": {"name", "parameters"}}`);
    }
    return {
      name: f.name,
      ...(typeof f.description === 'string' ? { description: f.description } : {}),
      parameters: isObject(f.parameters) ? f.parameters : { type: 'object', properties: {} },
    };
  });
}

function parseToolChoice(choice: unknown): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return 'auto';
  if (choice === 'required') return 'any';
  if (choice === 'none') return 'none';
  if (isObject(choice) && choice.type === 'function' && typeof choice.function?.name === 'string') return { name: choice.function.name };
  throw new TranslationError('tool_choice: must be "auto", "required", "none" or {"type": "function", "function": {"name"}}');
}

/** Reads an OpenAI chat-completions body. */
export function readChatRequest(body: Record<string, unknown>): ChatRequest {
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw new TranslationError('messages: must be a non-empty array');
  const system: string[] = [];
  const turns: Turn[] = [];
  body.messages.forEach((m: unknown, i: number) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw new TranslationError(`${where}: must be an object`);
    switch (m.role) {
      case 'system': case 'developer':
        system.push(textOf(m.content, `${where}.content`));
        return;
      case 'user':
        addTurn(turns, 'user', contentBlocks(m.content, `${where}.content`));
        return;
      case 'assistant': {
        const blocks = contentBlocks(m.content, `${where}.content`);
        const calls: unknown[] = Array.isArray(m.tool_calls) ? m.tool_calls : [];
        calls.forEach((c, j) => {
          if (!isObject(c) || typeof c.id !== 'string' || typeof c.function?.name !== 'string') {
            throw new TranslationError(`${where}.tool_calls[${j}]: must have id and function.name`);
          }
          blocks.push({ kind: 'toolUse', id: c.id, name: c.function.name, input: parseArguments(c.function.arguments, `${where}.tool_calls[${j}].function.arguments`) });
        });
        addTurn(turns, 'assistant', blocks);
        return;
      }
      case 'tool':
        if (typeof m.tool_call_id !== 'string') throw new TranslationError(`${where}.tool_call_id: is required`);
        addTurn(turns, 'user', [{ kind: 'toolResult', id: m.tool_call_id, text: textOf(m.content, `${where}.content`) }]);
        return;
      default:
        throw new TranslationError(`${where}.role: unsupported role ${JSON.stringify(m.role)}`);
    }
  });
  if (turns.length === 0) throw new TranslationError('messages: at least one user message is required');
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop]
    : Array.isArray(body.stop) && body.stop.every((s) => typeof s === 'string') ? body.stop as string[]
      : (() => { throw new TranslationError('stop: must be a string or an array of strings'); })();
  const n = optionalNumber(body, 'n');
  if (n !== undefined && n !== 1) throw new TranslationError('n: only 1 is supported by this provider');
  const maxTokens = optionalNumber(body, 'max_completion_tokens') ?? optionalNumber(body, 'max_tokens');
  return {
    system,
    turns,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(optionalNumber(body, 'temperature') !== undefined ? { temperature: optionalNumber(body, 'temperature') } : {}),
    ...(optionalNumber(body, 'top_p') !== undefined ? { topP: optionalNumber(body, 'top_p') } : {}),
    stop,
    tools: parseTools(body.tools),
    ...(parseToolChoice(body.tool_choice) !== undefined ? { toolChoice: parseToolChoice(body.tool_choice) } : {}),
    stream: body.stream === true,
    ...(typeof body.user === 'string' ? { user: body.user } : {}),
  };
}

/** OpenAI `finish_reason` for the stop reasons Anthropic and Bedrock give. */
export function finishReason(stop: unknown): string | null {
  switch (stop) {
    case 'end_turn': case 'stop_sequence': case 'pause_turn': return 'stop';
    case 'max_tokens': case 'model_context_window_exceeded': return 'length';
    case 'tool_use': return 'tool_calls';
    case 'refusal': case 'guardrail_intervened': case 'content_filtered': return 'content_filter';
    case null: case undefined: return null;
    default: return 'stop';
  }
}
