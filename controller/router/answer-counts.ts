/**
 * The router's answers by path, status code and backend (`agentway_router_requests_total`), counted in maps
 * keyed by the strings and numbers the router already holds and added to the prom-client counter when it is
 * collected. prom-client's own `inc()` builds a key string from the labels on every call, a few hundred bytes
 * of every request.
 */
import { Counter, Registry } from 'prom-client';

export class AnswerCounts {
  /** path → status code → backend → answers not yet added to the counter. */
  private readonly pending = new Map<string, Map<number, Map<string, number>>>();
  public readonly counter: Counter<'path' | 'code' | 'backend'>;

  public constructor(registry: Registry) {
    const pending = this.pending;
    this.counter = new Counter({
      name: 'agentway_router_requests_total', help: 'Router answers by path, status code and backend', labelNames: ['path', 'code', 'backend'], registers: [registry],
      collect() {
        for (const [path, byCode] of pending) {
          for (const [code, byBackend] of byCode) for (const [backend, n] of byBackend) this.inc({ path, code, backend }, n);
        }
        pending.clear();
      },
    });
  }

  public add(path: string, code: number, backend: string): void {
    let byCode = this.pending.get(path);
    if (!byCode) this.pending.set(path, (byCode = new Map()));
    let byBackend = byCode.get(code);
    if (!byBackend) byCode.set(code, (byBackend = new Map()));
    byBackend.set(backend, (byBackend.get(backend) ?? 0) + 1);
  }
}
