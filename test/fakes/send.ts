/** Sends an adapter's UpstreamRequest with node:http exactly as prepared (headers verbatim), for tests. */
import { request } from 'node:http';
import { UpstreamRequest } from '../../controller/router/providers/types.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body as it arrived, one entry per chunk. */
  readonly chunks: Buffer[];
  readonly body: Buffer;
}

export function send(req: UpstreamRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = request(req.url, { method: req.method, headers: req.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}
