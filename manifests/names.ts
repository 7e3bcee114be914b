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
 * Name of the ClientInstance the route server creates for a client's instance. Distinct triples always give
 * distinct names, although the parts may themselves hold "-":
 * - `{pool}-{client}-{instance}` with every "-" inside a part doubled, so a single "-" only ever separates
 *   parts (`alice` + `dev-one` → `…-alice-dev--one`, `alice-dev` + `one` → `…-alice--dev-one`); a part never
 *   starts or ends with "-", so a run of hyphens is either one separator or an even number of escaped ones;
 * - when that does not fit, the pool (cut short) and a hash of the triple, joined by a run of exactly three
 *   hyphens, which the first form never contains.
 * The same triple always names the same object.
 */
export function clientInstanceName(pool: string, client: string, instance: string): string {
  const max = maxNameLength('ClientInstance');
  const escaped = [pool, client, instance].map((part) => part.replace(/-/g, '--')).join('-');
  if (escaped.length <= max && isDnsLabel(escaped)) return escaped;
  const hash = createHash('sha256').update(`${pool}\u0000${client}\u0000${instance}`).digest('hex').slice(0, 16);
  return `${pool.slice(0, max - hash.length - 3).replace(/-+$/, '')}---${hash}`;
}
