/**
 * The controller's optional scheduling policy. CR authors are trusted like Deployment authors in their
 * namespace, but a cluster may still keep them off some nodes: with a policy, a toleration of a taint
 * outside the allow-list (or of every taint: `operator: Exists` without a key), or a nodeSelector label
 * outside it, is an error at its field path, and nothing is rendered.
 */
import { AgentwayResource, FieldError, Pool, Toleration } from './api.js';

export interface SchedulingPolicy {
  /**
   * Taint keys a CR may tolerate.
   * @default any toleration
   */
  readonly tolerationKeys?: readonly string[];
  /**
   * Node labels a CR may select on, each `key` (any value) or `key=value`.
   * @default any nodeSelector
   */
  readonly nodeSelectors?: readonly string[];
}

type Scheduling = Pick<Pool, 'nodeSelector' | 'tolerations'>;

function tolerationErrors(tolerations: readonly Toleration[] | undefined, allowed: readonly string[], base: string): FieldError[] {
  return (tolerations ?? []).flatMap((t, i) => {
    if (t.key && allowed.includes(t.key)) return [];
    const what = t.key ? `a toleration of taint "${t.key}"` : 'a toleration of every taint (no key)';
    return [{ path: `${base}.tolerations[${i}]`, message: `${what} is not allowed by the controller's policy; allowed taint keys: ${allowed.join(', ') || 'none'}` }];
  });
}

function nodeSelectorErrors(selector: Readonly<Record<string, string>> | undefined, allowed: readonly string[], base: string): FieldError[] {
  return Object.entries(selector ?? {}).flatMap(([key, value]) => (allowed.includes(key) || allowed.includes(`${key}=${value}`) ? [] : [{
    path: `${base}.nodeSelector.${key}`,
    message: `node label "${key}=${value}" is not allowed by the controller's policy; allowed: ${allowed.join(', ') || 'none'}`,
  }]));
}

function schedulingErrors(s: Scheduling, policy: SchedulingPolicy, base: string): FieldError[] {
  return [
    ...(policy.tolerationKeys ? tolerationErrors(s.tolerations, policy.tolerationKeys, base) : []),
    ...(policy.nodeSelectors ? nodeSelectorErrors(s.nodeSelector, policy.nodeSelectors, base) : []),
  ];
}

/** Where `cr` asks to be scheduled against the policy: top level, each pool, a ClientPool's template. */
export function schedulingPolicyErrors(cr: AgentwayResource, policy: SchedulingPolicy): FieldError[] {
  if (!policy.tolerationKeys && !policy.nodeSelectors) return [];
  switch (cr.kind) {
    case 'Agent': case 'ModelAPI': case 'MCPServer':
      return [
        ...schedulingErrors(cr.spec, policy, 'spec'),
        ...(cr.spec.pools ?? []).flatMap((p, i) => schedulingErrors(p, policy, `spec.pools[${i}]`)),
      ];
    case 'ClientPool':
      return schedulingErrors(cr.spec.template, policy, 'spec.template');
    case 'ClientInstance':
      return [];
  }
}
