/**
 * One reconcile: read the CR from the cache, render it, apply what changed, prune what is no longer
 * rendered, write status. Level-triggered: it works from the cached object, never from the event.
 */
import { Logger } from 'pino';
import { AgentwayResource, ClientPool, Condition, Kind, MODEL_ACCESS_INFO, ResourceStatus } from '../../manifests/api.js';
import { RenderConfig } from '../../manifests/config.js';
import { RenderResult, modelAccessGrant, render } from '../../manifests/render.js';
import { validateModelAccess } from '../../manifests/validate.js';
import { WeightState } from '../../manifests/weights.js';
import { applyObjects, pruneOrphans, withOwnership } from './apply.js';
import { CapacityTracker } from './capacity.js';
import { EventRecorder } from '../kube/events.js';
import { Informer, KubeObj } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { objectKey } from '../kube/resources.js';
import { NewCondition, Reasons, condition, mergeConditions, writeStatus } from './status.js';

export interface Deps {
  readonly client: KubeClient;
  /** Caches of our CRs, by kind. */
  readonly crs: ReadonlyMap<Kind, Informer>;
  /** Caches of the children we render, by kind (Deployment, Service, HTTPRoute). */
  readonly children: ReadonlyMap<string, Informer>;
  readonly config: () => RenderConfig;
  readonly clock: () => Date;
  readonly log: Logger;
  readonly events: EventRecorder;
  /** Live capacity of the routes' pools; without it, weights follow replicas. */
  readonly capacity?: CapacityTracker;
  /** Cache of ModelAccess objects, whose one rendered grant the controller keeps in place. */
  readonly modelAccesses?: Informer;
}

export interface Outcome {
  /** Objects written (applied or deleted) and whether the status was written. */
  readonly writes: number;
  /** A failure that waiting may fix: the key goes back to the queue with backoff. */
  readonly retry?: Error;
}

/** `Kind/namespace/name`, the work queue's key. */
export function queueKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${objectKey(namespace, name)}`;
}

export function parseQueueKey(key: string): { kind: Kind; namespace: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind: kind as Kind, namespace, name };
}

interface Missing { readonly reason: string; readonly message: string }

/** References to other CRs that must exist before anything is applied. */
function missingReference(cr: AgentwayResource, deps: Deps): Missing | undefined {
  const ns = cr.metadata.namespace;
  const has = (kind: Kind, name: string) => deps.crs.get(kind)?.get(objectKey(ns, name)) !== undefined;
  if (cr.kind === 'Agent') {
    const model = cr.spec.modelAPI;
    if (model && !has('ModelAPI', model)) {
      return { reason: Reasons.ModelAPINotFound, message: `spec.modelAPI: ModelAPI "${model}" not found in namespace "${ns}"` };
    }
    const mcp = (cr.spec.mcpServers ?? []).find((m) => !has('MCPServer', m));
    if (mcp) return { reason: Reasons.MCPServerNotFound, message: `spec.mcpServers: MCPServer "${mcp}" not found in namespace "${ns}"` };
  }
  if (cr.kind === 'ClientInstance' && !has('ClientPool', cr.spec.pool)) {
    return { reason: Reasons.ClientPoolNotFound, message: `spec.pool: ClientPool "${cr.spec.pool}" not found in namespace "${ns}"` };
  }
  return undefined;
}

function readyCondition(result: RenderResult, deps: Deps, ns: string): NewCondition {
  const deployments = deps.children.get('Deployment');
  let desired = 0;
  let ready = 0;
  for (const pool of result.pools) {
    desired += pool.replicas;
    ready += deployments?.get(objectKey(ns, pool.objectName))?.status?.readyReplicas ?? 0;
  }
  if (result.pools.length === 0) return condition('Ready', true, Reasons.Ready, 'all objects applied');
  if (desired === 0) return condition('Ready', true, Reasons.ScaledToZero, 'every pool has 0 replicas');
  if (ready === 0) return condition('Ready', false, Reasons.NoReadyBackends, `0/${desired} replicas ready`);
  return condition('Ready', true, Reasons.Ready, `${ready}/${desired} replicas ready`);
}

/** Mirrors the Accepted condition a Gateway controller set on the route for our Gateway. */
function routeAcceptedCondition(result: RenderResult, deps: Deps): NewCondition | undefined {
  const route = result.objects.find((o) => o.kind === 'HTTPRoute' && o.metadata.namespace === result.resource?.metadata.namespace);
  if (!route) return undefined;
  const live = deps.children.get('HTTPRoute')?.get(objectKey(route.metadata.namespace, route.metadata.name));
  const gw = deps.config().gateway;
  const parent = (live?.status?.parents ?? []).find((p: any) => p.parentRef?.name === gw.name && (p.parentRef?.namespace ?? route.metadata.namespace) === gw.namespace);
  const accepted = parent?.conditions?.find((c: Condition) => c.type === 'Accepted');
  if (!accepted) return condition('RouteAccepted', 'Unknown', Reasons.Pending, `waiting for the controller of Gateway ${gw.namespace}/${gw.name}`);
  return { type: 'RouteAccepted', status: accepted.status, reason: accepted.reason || Reasons.Accepted, message: accepted.message ?? '' };
}

/** Ready=False reasons that need a person, and so an Event; waiting for pods to start is not one. */
const FAILURE_REASONS: ReadonlySet<string> = new Set([
  Reasons.InvalidSpec, Reasons.ApplyFailed, Reasons.ModelAPINotFound, Reasons.MCPServerNotFound, Reasons.ClientPoolNotFound,
]);

function capacityCondition(state: WeightState): NewCondition {
  switch (state) {
    case 'Available': return condition('CapacityAvailable', true, Reasons.CapacityAvailable, 'route weights follow free capacity');
    case 'CapacityExhausted': return condition('CapacityAvailable', false, Reasons.CapacityExhausted, 'no pool has free capacity; weights follow ready replicas');
    case 'NoReadyBackends': return condition('CapacityAvailable', false, Reasons.NoReadyBackends, 'no pool has a ready endpoint; every weight is 0');
  }
}

async function finish(deps: Deps, cr: KubeObj, conditions: NewCondition[], extra: Partial<ResourceStatus> = {}): Promise<number> {
  const prev: Condition[] | undefined = cr.status?.conditions;
  const ready = conditions.find((c) => c.type === 'Ready');
  const prevReady = prev?.find((c) => c.type === 'Ready');
  const failed = ready && ready.status === 'False' && FAILURE_REASONS.has(ready.reason);
  if (failed && (prevReady?.status !== 'False' || prevReady.reason !== ready.reason || prevReady.message !== ready.message)) {
    await deps.events.warn(cr, ready!.reason, ready!.message);
  }
  const status: ResourceStatus = {
    observedGeneration: cr.metadata.generation,
    conditions: mergeConditions(prev, conditions, cr.metadata.generation, deps.clock()),
    ...extra,
  };
  return (await writeStatus(deps.client, cr, status)) ? 1 : 0;
}

/**
 * A ModelAccess: applies the Role and RoleBinding that let the model router read its key Secret, owned by
 * the ModelAccess so that they go with it. It has no status; an invalid one is logged and left alone (the
 * router refuses it the same way, without its keys every request is a 401).
 */
async function reconcileModelAccess(namespace: string, name: string, deps: Deps): Promise<Outcome> {
  const cr = deps.modelAccesses?.get(objectKey(namespace, name));
  if (!cr || cr.metadata.deletionTimestamp) return { writes: 0 };
  const { resource, errors } = validateModelAccess(cr);
  if (!resource) {
    deps.log.warn({ modelAccess: objectKey(namespace, name), errors: errors.map((e) => `${e.path}: ${e.message}`) }, 'invalid ModelAccess: no key access rendered');
    return { writes: 0 };
  }
  const objects = modelAccessGrant(resource, deps.config()).map((o) => withOwnership(o, cr as never));
  const applied = await applyObjects(deps.client, objects, deps.children);
  const failed = applied.failed[0];
  if (failed) return { writes: applied.written, retry: new Error(`${failed.object}: ${failed.error.message}`) };
  return { writes: applied.written + await pruneOrphans(deps.client, cr.metadata.uid!, applied.desiredKeys, deps.children.values()) };
}

export async function reconcile(key: string, deps: Deps): Promise<Outcome> {
  const { kind, namespace, name } = parseQueueKey(key);
  if ((kind as string) === MODEL_ACCESS_INFO.kind) return reconcileModelAccess(namespace, name, deps);
  const cr = deps.crs.get(kind)?.get(objectKey(namespace, name));
  // Deleted, or being deleted: the ownerReferences let the garbage collector remove the children.
  if (!cr || cr.metadata.deletionTimestamp) {
    deps.capacity?.forget(key);
    return { writes: 0 };
  }
  const resource = cr as unknown as AgentwayResource;

  const missing = missingReference(resource, deps);
  if (missing) return { writes: await finish(deps, cr, [condition('Ready', false, missing.reason, missing.message)]) };

  const clientPool = resource.kind === 'ClientInstance'
    ? deps.crs.get('ClientPool')?.get(objectKey(namespace, resource.spec.pool)) as unknown as ClientPool | undefined
    : undefined;
  const config = deps.config();
  const weights = deps.capacity?.weightsFor(key);
  let result = render(cr, { config, clientPool, weights });
  deps.capacity?.register(key, resource, result);
  // A route seen for the first time gets its observed weights now rather than one write later.
  const observed = deps.capacity?.weightsFor(key);
  if (observed !== weights && result.errors.length === 0) result = render(cr, { config, clientPool, weights: observed });
  if (result.errors.length > 0) {
    const message = result.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return { writes: await finish(deps, cr, [condition('Ready', false, Reasons.InvalidSpec, message)]) };
  }

  const objects = result.objects.map((o) => withOwnership(o, cr as never));
  const applied = await applyObjects(deps.client, objects, deps.children);
  let writes = applied.written;
  if (applied.failed.length > 0) {
    const retriable = applied.failed.find((f) => f.error.retriable);
    if (retriable) return { writes, retry: new Error(`${retriable.object}: ${retriable.error.message}`) };
    const message = applied.failed.map((f) => `${f.object}: ${f.error.message}`).join('; ');
    return { writes: writes + await finish(deps, cr, [condition('Ready', false, Reasons.ApplyFailed, message)]) };
  }
  // Prune only after every apply succeeded: an object that failed to apply is missing from the cache, and
  // pruning now could delete something still wanted.
  writes += await pruneOrphans(deps.client, cr.metadata.uid!, applied.desiredKeys, deps.children.values());

  const conditions = [readyCondition(result, deps, namespace)];
  const routeAccepted = routeAcceptedCondition(result, deps);
  if (routeAccepted) conditions.push(routeAccepted);
  if (!config.gateway.requestTimeouts && routeAccepted) {
    conditions.push(condition('RouteTimeouts', false, Reasons.TimeoutsUnsupported,
      `GatewayClass of ${config.gateway.namespace}/${config.gateway.name} does not support HTTPRouteRequestTimeout; the route has no timeout`));
  }
  const capacity = deps.capacity?.snapshot(key);
  if (capacity) conditions.push(capacityCondition(capacity.state));
  writes += await finish(deps, cr, conditions, {
    ...(result.endpoint ? { endpoint: result.endpoint } : {}),
    ...(capacity ? { pools: capacity.pools } : {}),
  });
  return { writes };
}
