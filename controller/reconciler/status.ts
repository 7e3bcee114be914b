/** Conditions and the status write: once per reconcile, at the end, and only if something changed. */
import { Condition, ResourceStatus } from '../../manifests/api.js';
import { rfc3339 } from '../common/time.js';
import { KubeObj } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { resourcePath, resourceType } from '../kube/resources.js';

/** Condition reasons: CamelCase constants, because clients and alerts match on them. */
export const Reasons = {
  Ready: 'Ready',
  ScaledToZero: 'ScaledToZero',
  NoReadyBackends: 'NoReadyBackends',
  InvalidSpec: 'InvalidSpec',
  ApplyFailed: 'ApplyFailed',
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

/**
 * Writes `status` through the status subresource unless the CR already has it; true if written. Only the
 * fields in `status` are sent, so fields other writers own (a ClientInstance's lastActivityTime) are kept.
 */
export async function writeStatus(client: KubeClient, cr: KubeObj, status: ResourceStatus): Promise<boolean> {
  const merged: ResourceStatus = { ...(cr.status ?? {}), ...status };
  if (canonicalJson(cr.status ?? {}) === canonicalJson(merged)) return false;
  const t = resourceType(cr.apiVersion!, cr.kind!);
  await client.request('PATCH', `${resourcePath(t, cr.metadata.namespace, cr.metadata.name)}/status`, {
    body: { status }, contentType: 'application/merge-patch+json',
  });
  return true;
}

export function condition(type: string, ok: boolean | 'Unknown', reason: string, message: string): NewCondition {
  return { type, status: ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False', reason, message };
}
