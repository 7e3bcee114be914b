/**
 * OpenAI-shaped SSE from an OpenAI-compatible server (in the cluster or a provider), passed on event by
 * event while its usage is read. The router asks every such server for `stream_options.include_usage`, so
 * the last chunk carries the usage; a client that did not ask for it does not get that chunk.
 */
import { openAIUsage } from './http.js';
import { SseEvent, SseReader } from './sse.js';
import { StreamTranslator, Usage } from './types.js';

export class PassThroughStream implements StreamTranslator {
  private readonly reader = new SseReader();
  private seen: Usage | undefined;

  public constructor(private readonly includeUsage: boolean) {}

  public usage(): Usage | undefined {
    return this.seen;
  }

  private write(events: SseEvent[]): string {
    let out = '';
    for (const e of events) {
      if (e.data !== '[DONE]' && e.data.includes('"usage"')) {
        try {
          const chunk = JSON.parse(e.data);
          const u = openAIUsage(chunk);
          if (u) {
            this.seen = u;
            if (!this.includeUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0) continue;
          }
        } catch { /* not JSON: passed on as it came */ }
      }
      out += `${e.event !== 'message' ? `event: ${e.event}\n` : ''}${e.data.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
    }
    return out;
  }

  public push(chunk: Uint8Array): string {
    return this.write(this.reader.push(chunk));
  }

  public end(): string {
    return this.write(this.reader.end());
  }
}
