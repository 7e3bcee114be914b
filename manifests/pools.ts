/**
 * Pools of a workload CR as render names them, and Gateway API durations: pure helpers that the router and
 * the controller read without loading cdk8s (render.ts re-exports them).
 */
import { Pool, Resources, WorkloadResource, WorkloadSpec } from './api.js';
import { poolObjectName } from './names.js';

/** A pool as rendered: what the controller needs to observe its capacity. */
export interface RenderedPool {
  readonly name: string;
  /** Name of the pool's Deployment and Service. */
  readonly objectName: string;
  readonly replicas: number;
  /** Accelerators per replica. */
  readonly gpu: number;
  readonly port: number;
}

const DURATION_PART = /([0-9]+)(h|ms|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Milliseconds of a Gateway API duration such as `1h30m`. */
export function durationMs(duration: string): number {
  let total = 0;
  for (const [, n, unit] of duration.matchAll(DURATION_PART)) total += Number(n) * UNIT_MS[unit];
  return total;
}

export type ResolvedPool = Pool & { readonly replicas: number };

export function resolvePools(spec: Omit<WorkloadSpec, 'image'>): { pools: readonly ResolvedPool[]; explicit: boolean } {
  if (!spec.pools) {
    return {
      explicit: false,
      pools: [{ name: 'default', replicas: spec.replicas, resources: spec.resources, nodeSelector: spec.nodeSelector, tolerations: spec.tolerations }],
    };
  }
  // A pool that states resources, nodeSelector or tolerations states all of it: no field-wise merging, so a
  // CPU pool never inherits the top level's accelerators.
  return {
    explicit: true,
    pools: spec.pools.map((p) => ({
      name: p.name,
      replicas: p.replicas,
      resources: p.resources ?? spec.resources,
      nodeSelector: p.nodeSelector ?? spec.nodeSelector,
      tolerations: p.tolerations ?? spec.tolerations,
    })),
  };
}

export const gpuOf = (r: Resources | undefined) => r?.gpu ?? 0;

/** Whether a CR runs no workload of its own: a ModelAPI served through `backend` or by an external `provider`. */
export function runsNoWorkload(cr: WorkloadResource): boolean {
  return cr.kind === 'ModelAPI' && (cr.spec.backend !== undefined || cr.spec.provider !== undefined);
}

/** The pools a workload CR runs, named as render names their Deployments and Services. */
export function renderedPools(cr: WorkloadResource): RenderedPool[] {
  if (runsNoWorkload(cr)) return [];
  const { pools, explicit } = resolvePools(cr.spec);
  return pools.map((p) => ({
    name: p.name, objectName: poolObjectName(cr.kind, cr.metadata.name, p.name, explicit), replicas: p.replicas, gpu: gpuOf(p.resources), port: cr.spec.port,
  }));
}

