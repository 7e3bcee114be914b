/**
 * Small JSON reads from pods: the capacity answer of DESIGN §4 (the controller's route weights and the model
 * router's endpoint choice) and `GET /v1/models` (discovery, §8). A pod is not trusted: every read is bounded
 * in time and size.
 */
import http from 'node:http';
import { CapacityMetric } from '../../manifests/api.js';

/** A pod that does not answer its capacity poll within this is counted as 0 and unhealthy. */
export const POLL_TIMEOUT_MS = 1000;
/** The largest answer read from a pod. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** The field of the capacity answer that each `capacity.metric` reads. */
export const METRIC_FIELD: Readonly<Record<CapacityMetric, string>> = {
  gpus: 'available_gpus', cpus: 'available_cpus', memory: 'available_memory_gb', idleWorkers: 'idle_workers',
};

/**
 * GET `url` and parse the answer as JSON; undefined when it fails, is not 2xx, is not JSON, is larger than
 * `maxBytes` or takes longer than `timeoutMs` in all.
 */
export function getJson(url: string, timeoutMs: number, maxBytes = MAX_ANSWER_BYTES): Promise<unknown> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false, headers: { accept: 'application/json' } }, (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) { res.resume(); resolve(undefined); return; }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => { size += c.length; if (size > maxBytes) req.destroy(); else chunks.push(c); });
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    // The timeout covers the whole exchange, not only idle socket time.
    const timer = setTimeout(() => req.destroy(), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** GET `url`; the capacity answer's `field` (0 when it is not a number ≥ 0), or undefined when the read fails. */
export async function pollCapacity(url: string, field: string, timeoutMs = POLL_TIMEOUT_MS): Promise<number | undefined> {
  const answer = await getJson(url, timeoutMs);
  if (answer === undefined) return undefined;
  const v = (answer as Record<string, unknown> | null)?.[field];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}
