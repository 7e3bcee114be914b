/**
 * An incremental server-sent-events reader: bytes in as they arrive, whole events out. Lines may be split
 * anywhere, even inside a UTF-8 sequence, and may end in LF, CRLF or CR.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/** Bound on one pending line, so a stream without newlines cannot grow memory without end. */
const MAX_LINE = 8 * 1024 * 1024;

export class SseReader {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** Events completed by this chunk. */
  public push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    return this.drain(false);
  }

  /** Events left when the stream ends (a last event without its blank line counts). */
  public end(): SseEvent[] {
    this.buffer += this.decoder.end();
    return this.drain(true);
  }

  private drain(final: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of CRLF: wait for the next chunk.
      if (!m || (!final && m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line, out);
    }
    if (this.buffer.length > MAX_LINE) throw new Error(`an event stream line is longer than ${MAX_LINE} bytes`);
    if (final) {
      if (this.buffer !== '') this.line(this.buffer, out);
      this.buffer = '';
      this.line('', out);
    }
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}
