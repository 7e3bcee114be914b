/** Conditions and the status write: once per reconcile, at the end, and only if something changed. */
import { Condition, KubeObject, ResourceStatus } from '../../manifests/api.js';
import { rfc3339 } from '../common/time.js';
import { KubeClient } from '../kube/kube-client.js';
import { STATUS_MANAGERS, applyStatus, clearStatusFields } from '../kube/status-apply.js';

/** Condition reasons: CamelCase constants, because clients and alerts match on them. */
export const Reasons = {
  Ready: 'Ready',
  ScaledToZero: 'ScaledToZero',
  NoReadyBackends: 'NoReadyBackends',
  InvalidSpec: 'InvalidSpec',
  ApplyFailed: 'ApplyFailed',
  PruneFailed: 'PruneFailed',
  StatusFailed: 'StatusFailed',
  NameConflict: 'NameConflict',
  ModelAPINotFound: 'ModelAPINotFound',
  MCPServerNotFound: 'MCPServerNotFound',
  ClientPoolNotFound: 'ClientPoolNotFound',
  Accepted: 'Accepted',
  Pending: 'Pending',
  CapacityExhausted: 'CapacityExhausted',
  CapacityAvailable: 'CapacityAvailable',
  TimeoutsUnsupported: 'TimeoutsUnsupported',
} as const;

export type NewCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * The conditions to store: `next`, each keeping its previous lastTransitionTime unless its status changed.
 * Conditions of types not in `next` are dropped.
 */
export function mergeConditions(prev: readonly Condition[] | undefined, next: readonly NewCondition[], generation: number | undefined, now: Date): Condition[] {
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return {
      type: c.type, status: c.status, reason: c.reason, message: c.message,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(now),
    };
  });
}

/** JSON with object keys sorted, so that two equal values give the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
    : v));
}

/** The status fields the controller writes; the rest belong to other writers. */
export const CONTROLLER_STATUS_FIELDS = ['observedGeneration', 'conditions', 'endpoint', 'pools'] as const;

function ownedPart(status: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONTROLLER_STATUS_FIELDS) if (status?.[f] !== undefined) out[f] = status[f];
  return out;
}

/**
 * Applies `status` as everything the controller owns in the CR's status, unless the CR already has exactly
 * that; true if written. A field left out of `status` is removed, so an endpoint or pools that no longer
 * apply do not linger; fields of other writers are kept.
 */
export async function writeStatus(client: KubeClient, cr: KubeObject, status: ResourceStatus): Promise<boolean> {
  const next = ownedPart(status as Record<string, unknown>);
  if (canonicalJson(ownedPart(cr.status)) === canonicalJson(next)) return false;
  const target = { apiVersion: cr.apiVersion!, kind: cr.kind!, metadata: cr.metadata };
  const stored = await applyStatus(client, target, next, STATUS_MANAGERS.controller);
  const lingering = CONTROLLER_STATUS_FIELDS.filter((f) => next[f] === undefined && stored?.status?.[f] !== undefined);
  if (lingering.length > 0) await clearStatusFields(client, target, lingering);
  return true;
}

export function condition(type: string, ok: boolean | 'Unknown', reason: string, message: string): NewCondition {
  return { type, status: ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False', reason, message };
}
