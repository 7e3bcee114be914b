/** Names and labels of rendered objects: derived from the CR, never from construct ids. */
import { createHash } from 'node:crypto';
import { KINDS, Kind } from './api.js';
import { DNS_LABEL, maxNameLength } from './crds.js';

export const MANAGED_BY = 'agentway';
export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  pool: 'agentway.dev/pool',
  clientPool: 'agentway.dev/client-pool',
} as const;

/** `{segment}-{name}`: the HTTPRoute's name, and the Deployment's and Service's when there are no pools. */
export function objectName(kind: Kind, name: string): string {
  return `${KINDS[kind].segment}-${name}`;
}

/** Name of a pool's Deployment and Service: `{segment}-{name}-{pool}` when `pools` is given. */
export function poolObjectName(kind: Kind, name: string, pool: string, explicitPools: boolean): string {
  return explicitPools ? `${objectName(kind, name)}-${pool}` : objectName(kind, name);
}

/** Labels every object rendered for one CR carries. */
export function instanceLabels(kind: Kind, name: string): Record<string, string> {
  return {
    [LABELS.name]: KINDS[kind].segment,
    [LABELS.instance]: objectName(kind, name),
    [LABELS.component]: kind,
    [LABELS.managedBy]: MANAGED_BY,
  };
}

/** The labels a pool's Service selects its pods by. */
export function poolSelector(kind: Kind, name: string, pool: string): Record<string, string> {
  return { [LABELS.instance]: objectName(kind, name), [LABELS.pool]: pool };
}

/** The Gateway path of a resource: `/{namespace}/{segment}/{name}`. */
export function routePath(namespace: string, kind: Kind, name: string): string {
  return `/${namespace}/${KINDS[kind].segment}/${name}`;
}

const DNS_LABEL_RE = new RegExp(DNS_LABEL);

/** Whether `s` is a DNS-1035 label (length aside). */
export function isDnsLabel(s: string): boolean {
  return DNS_LABEL_RE.test(s);
}

/**
 * Name of the ClientInstance the route server creates for a client's instance: `{pool}-{client}-{instance}`
 * when that fits, else the pool and a stable hash of all three, so that the same request always names the
 * same object.
 */
export function clientInstanceName(pool: string, client: string, instance: string): string {
  const max = maxNameLength('ClientInstance');
  const plain = `${pool}-${client}-${instance}`;
  if (plain.length <= max && isDnsLabel(plain)) return plain;
  const hash = createHash('sha256').update(`${pool}\u0000${client}\u0000${instance}`).digest('hex').slice(0, 16);
  return `${pool.slice(0, max - hash.length - 3)}-i-${hash}`;
}
