/**
 * The capacity answer of DESIGN §4, `{"available_gpus": n, "available_cpus": n, "available_memory_gb": n,
 * "idle_workers": n}`, read from one pod: what the controller's route weights and the model router's endpoint
 * choice both measure.
 */
import http from 'node:http';
import { CapacityMetric } from '../../manifests/api.js';

/** A pod that does not answer its capacity poll within this is counted as 0 and unhealthy. */
export const POLL_TIMEOUT_MS = 1000;

/** The field of the capacity answer that each `capacity.metric` reads. */
export const METRIC_FIELD: Readonly<Record<CapacityMetric, string>> = {
  gpus: 'available_gpus', cpus: 'available_cpus', memory: 'available_memory_gb', idleWorkers: 'idle_workers',
};

/** GET `url`; the capacity answer's `field`, or undefined when it fails, times out or is not 2xx. */
export function pollCapacity(url: string, field: string, timeoutMs = POLL_TIMEOUT_MS): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) { res.resume(); resolve(undefined); return; }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const v = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.[field];
          resolve(typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
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
